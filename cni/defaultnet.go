package cni

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/continuity"
)

// compod's default network: a bridge with NAT to the outside and published
// ports from the reference plugins, and host-wide NAT and FORWARD rules
// for the bridge from compod (defaultrules.go).
const (
	DefaultNetworkName = "compod"
	DefaultBridge      = "compod0"
	DefaultSubnet      = "10.89.0.0/16"
	// DefaultCNIVersion is the newest spec version Debian's
	// containernetworking-plugins 1.1.1 speak (bridge, host-local, portmap,
	// firewall and loopback all support 1.0.0; firewall nothing below 0.4.0).
	DefaultCNIVersion = "1.0.0"
	defaultConfName   = "10-compod.conflist"
)

// DefaultNetVersion is the conflist of the default network that new pods
// are attached with:
//
//   - 0: bridge with ipMasq, portmap, firewall: NAT and FORWARD rules per
//     pod, made by the plugins;
//   - 1: bridge without ipMasq, portmap: NAT and FORWARD rules for the
//     whole bridge, made once per host by compod (defaultrules.go).
//
// A pod is removed with the conflist it was attached with
// (Config.DefaultNetVersion).
const DefaultNetVersion = 1

// DefaultConfList is the default network's conflist, with host-local's
// reservations kept in ipamDir.
func DefaultConfList(ipamDir string) []byte { return defaultConfList(ipamDir, DefaultNetVersion) }

// defaultConfList is the default network's conflist of a version.
func defaultConfList(ipamDir string, version int) []byte {
	type m = map[string]any
	bridge := m{
		"type":        "bridge",
		"bridge":      DefaultBridge,
		"isGateway":   true,
		"hairpinMode": true,
		"ipam": m{
			"type":    "host-local",
			"ranges":  [][]m{{{"subnet": DefaultSubnet}}},
			"routes":  []m{{"dst": "0.0.0.0/0"}},
			"dataDir": ipamDir,
		},
	}
	plugins := []m{bridge, {
		"type":         "portmap",
		"capabilities": m{"portMappings": true},
		// snat makes host-local (127.0.0.1) and hairpin connections to
		// published ports work.
		"snat": true,
	}}
	if version == 0 {
		bridge["ipMasq"] = true
		plugins = append(plugins, m{"type": "firewall", "backend": "iptables"})
	}
	conf := m{
		"cniVersion": DefaultCNIVersion,
		"name":       DefaultNetworkName,
		"plugins":    plugins,
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// DefaultIPAMDir is where the default network's IP reservations live: on
// tmpfs, so they go with the pods' netns at reboot.
const DefaultIPAMDir = "/run/compod/cni/ipam"

// defaultRulesLockDir holds the host-wide lock under which compods make the
// default network's iptables rules (defaultrules.go).
const defaultRulesLockDir = "/run/compod/cni"

// writeDefaultConf writes the default conflist under stateDir unless it is
// already there with the same content, and returns its path.
func writeDefaultConf(stateDir, ipamDir string) (string, error) {
	confDir := filepath.Join(stateDir, "cni", "net.d")
	if ipamDir == "" {
		ipamDir = DefaultIPAMDir
	}
	file := filepath.Join(confDir, defaultConfName)
	want := DefaultConfList(ipamDir)
	if have, err := os.ReadFile(file); err == nil && bytes.Equal(have, want) {
		return file, nil
	}
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return "", fmt.Errorf("writing compod's default CNI network: %w", err)
	}
	if err := os.MkdirAll(ipamDir, 0o700); err != nil {
		return "", fmt.Errorf("writing compod's default CNI network: %w", err)
	}
	// Write and rename, so a concurrent compod never reads half a file.
	if err := continuity.AtomicWriteFile(file, want, 0o644); err != nil {
		return "", fmt.Errorf("writing compod's default CNI network %s: %w", file, err)
	}
	return file, nil
}
