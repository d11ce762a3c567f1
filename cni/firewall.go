package cni

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/mattn/go-shellwords"
)

// The firewall plugin (iptables backend) removes its CNI-FORWARD rules for
// a pod only from the result that ADD returned, which DEL gets from
// libcni's cache. A compod killed during ADD leaves no cached result, and
// then the plugin's rules for the pod's address stay forever. compod finds
// the address the way host-local reserved it (a file named after the
// address, holding the pod's id) before DEL frees it, and removes those
// rules itself after DEL.

const firewallChain = "CNI-FORWARD"

// orphanFirewallIPs returns the addresses host-local reserved for podID on
// a network with the firewall plugin, for DEL to run without a cached
// result; nil when there is a cached result (the plugin then cleans up).
func (n *Network) orphanFirewallIPs(podID string) []string {
	hasFirewall := false
	var dataDirs []string
	for _, p := range n.list.Plugins {
		if p.Network.Type == "firewall" {
			hasFirewall = true
		}
		if p.Network.IPAM.Type != "host-local" {
			continue
		}
		var c struct {
			IPAM struct {
				DataDir string `json:"dataDir"`
			} `json:"ipam"`
		}
		dir := "/var/lib/cni/networks"
		if json.Unmarshal(p.Bytes, &c) == nil && c.IPAM.DataDir != "" {
			dir = c.IPAM.DataDir
		}
		dataDirs = append(dataDirs, filepath.Join(dir, n.list.Name))
	}
	if !hasFirewall {
		return nil
	}
	if res, err := n.cni.GetNetworkListCachedResult(n.list, n.runtimeConf(podID, "", n.ifName, nil)); err == nil && res != nil {
		return nil
	}
	var ips []string
	for _, dir := range dataDirs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if net.ParseIP(e.Name()) == nil {
				continue // last_reserved_ip.0, lock
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				continue
			}
			if id, _, _ := strings.Cut(string(b), "\n"); strings.TrimSpace(id) == podID {
				ips = append(ips, e.Name())
			}
		}
	}
	return ips
}

// removeFirewallRules deletes the CNI-FORWARD rules for these addresses.
func removeFirewallRules(ips []string) error {
	if len(ips) == 0 {
		return nil
	}
	out, err := exec.Command("iptables", "-w", "-t", "filter", "-S", firewallChain).Output()
	if err != nil {
		return nil // no chain: nothing of the plugin's is there
	}
	var errs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		args, err := shellwords.Parse(sc.Text())
		if err != nil || len(args) < 2 || args[0] != "-A" || !mentionsAny(args, ips) {
			continue
		}
		args[0] = "-D"
		if b, err := exec.Command("iptables", append([]string{"-w", "-t", "filter"}, args...)...).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Sprintf("iptables %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(b))))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("removing firewall rules of %v: %s", ips, strings.Join(errs, "; "))
	}
	return nil
}

// mentionsAny: the rule matches one of the addresses as source or
// destination (-s/-d IP/32 or /128).
func mentionsAny(args []string, ips []string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] != "-s" && args[i] != "-d" {
			continue
		}
		addr, _, _ := strings.Cut(args[i+1], "/")
		for _, ip := range ips {
			if addr == ip {
				return true
			}
		}
	}
	return false
}
