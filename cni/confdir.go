package cni

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

// The operator's conf dir holds any number of networks. It is read again
// at every launch (Resolve, List), so that an operator who adds or fixes a
// network needs no restart; a file that fails to load is reported by name
// and does not take the other networks down.

// Capabilities compod passes to the plugins that declare them.
const (
	CapPortMappings = "portMappings"
	CapIPs          = "ips"
	CapMAC          = "mac"
)

// NetworkInfo describes one network compod can attach pods to.
type NetworkInfo struct {
	Name string `json:"name"`
	// File is the config file; "" for compod's default network when it
	// has not been written yet.
	File    string   `json:"file,omitempty"`
	Plugins []string `json:"plugins"`
	// Capabilities the plugins declare (portMappings, ips, mac, ...).
	Capabilities []string `json:"capabilities,omitempty"`
	// BuiltIn: compod's own bridge network, not a file of the conf dir.
	BuiltIn bool `json:"builtIn,omitempty"`
	Default bool `json:"default,omitempty"`
}

// Has reports whether a plugin of the network declares capability c.
func (i NetworkInfo) Has(c string) bool {
	for _, x := range i.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}

// BrokenFile is a file of the conf dir that is not a usable network.
type BrokenFile struct {
	File string `json:"file"`
	Err  string `json:"error"`
}

// Listing is what a conf dir holds.
type Listing struct {
	ConfDir  string        `json:"confDir,omitempty"`
	Networks []NetworkInfo `json:"networks"`
	Broken   []BrokenFile  `json:"broken,omitempty"`
	// Default is the default network's name, "" when there is none
	// (DefaultErr says why).
	Default    string `json:"default,omitempty"`
	DefaultErr string `json:"defaultError,omitempty"`
}

// List reads cfg.ConfDir: every network (by name; the first file by name
// wins when two define one name), the files that are broken, and which
// network is the default. compod's default bridge network is always
// listed, as "compod", unless the conf dir has a network of that name.
// The error is for a conf dir that cannot be read at all.
func List(cfg Config) (*Listing, error) {
	l := &Listing{ConfDir: cfg.ConfDir}
	builtin := builtinInfo(cfg)
	if cfg.ConfDir == "" {
		builtin.Default = true
		l.Networks, l.Default = []NetworkInfo{builtin}, builtin.Name
		if cfg.DefaultNetwork != "" && cfg.DefaultNetwork != DefaultNetworkName {
			l.Default, l.Networks[0].Default = "", false
			l.DefaultErr = fmt.Sprintf("default network %q: no CNI conf dir is set, so compod's own network %q is the only one", cfg.DefaultNetwork, DefaultNetworkName)
		}
		return l, nil
	}
	st, err := os.Stat(cfg.ConfDir)
	if err != nil {
		return nil, fmt.Errorf("CNI conf dir %s: %w (create it with a network .conflist, or leave the CNI conf dir unset to use compod's default network)", cfg.ConfDir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("CNI conf dir %s is not a directory", cfg.ConfDir)
	}
	files, err := libcni.ConfFiles(cfg.ConfDir, confExts)
	if err != nil {
		return nil, fmt.Errorf("reading CNI conf dir %s: %w", cfg.ConfDir, err)
	}
	sort.Strings(files)
	byName := map[string]string{}
	for _, f := range files {
		list, err := loadConfFile(f, "fix or remove it")
		if err != nil {
			l.Broken = append(l.Broken, BrokenFile{File: f, Err: err.Error()})
			continue
		}
		if prev, dup := byName[list.Name]; dup {
			l.Broken = append(l.Broken, BrokenFile{File: f, Err: fmt.Sprintf("network %q is already defined by %s, which is used", list.Name, prev)})
			continue
		}
		byName[list.Name] = f
		l.Networks = append(l.Networks, infoOf(list, f))
	}
	fromDir := len(l.Networks)
	if _, ok := byName[DefaultNetworkName]; !ok {
		l.Networks = append(l.Networks, builtin)
	}
	switch {
	case cfg.DefaultNetwork != "":
		if l.find(cfg.DefaultNetwork) == nil {
			l.DefaultErr = fmt.Sprintf("the default network %q is not in CNI conf dir %s: %s", cfg.DefaultNetwork, cfg.ConfDir, l.available())
		} else {
			l.Default = cfg.DefaultNetwork
		}
	case fromDir == 1:
		l.Default = l.Networks[0].Name
	case fromDir == 0 && len(l.Broken) == 0:
		l.Default = DefaultNetworkName
	case fromDir == 0:
		l.DefaultErr = fmt.Sprintf("CNI conf dir %s has no usable network: %s", cfg.ConfDir, l.available())
	default:
		l.DefaultErr = fmt.Sprintf("CNI conf dir %s has %d networks and none is named the default: set the default network (--cni-network, or cni.default_network in the executor config); %s", cfg.ConfDir, fromDir, l.available())
	}
	if n := l.find(l.Default); n != nil {
		n.Default = true
	}
	return l, nil
}

func (l *Listing) find(name string) *NetworkInfo {
	for i := range l.Networks {
		if l.Networks[i].Name == name {
			return &l.Networks[i]
		}
	}
	return nil
}

// available says which networks there are and which files are broken,
// for errors.
func (l *Listing) available() string {
	names := make([]string, 0, len(l.Networks))
	for _, n := range l.Networks {
		if n.BuiltIn {
			names = append(names, n.Name+" (compod's own bridge)")
		} else {
			names = append(names, fmt.Sprintf("%s (%s)", n.Name, filepath.Base(n.File)))
		}
	}
	s := "networks: " + strings.Join(names, ", ")
	for _, b := range l.Broken {
		s += fmt.Sprintf("; unusable file %s: %s", b.File, b.Err)
	}
	return s
}

func builtinInfo(cfg Config) NetworkInfo {
	list, err := libcni.ConfListFromBytes(DefaultConfList(orDefaultIPAM(cfg.IPAMDir)))
	if err != nil {
		panic(err) // a constant
	}
	i := infoOf(list, "")
	i.BuiltIn = true
	if cfg.StateDir != "" {
		if dir, err := filepath.Abs(cfg.StateDir); err == nil {
			i.File = filepath.Join(dir, "cni", "net.d", defaultConfName)
		}
	}
	return i
}

func orDefaultIPAM(dir string) string {
	if dir == "" {
		return DefaultIPAMDir
	}
	return dir
}

func infoOf(list *libcni.NetworkConfigList, file string) NetworkInfo {
	i := NetworkInfo{Name: list.Name, File: file}
	caps := map[string]bool{}
	for _, p := range list.Plugins {
		i.Plugins = append(i.Plugins, p.Network.Type)
		for c, on := range p.Network.Capabilities {
			if on {
				caps[c] = true
			}
		}
	}
	for c := range caps {
		i.Capabilities = append(i.Capabilities, c)
	}
	sort.Strings(i.Capabilities)
	return i
}

// ErrUnknownNetwork is in Resolve's error for a name no network has.
var ErrUnknownNetwork = errors.New("no such CNI network")

// Resolve reads the conf dir and returns the Config that loads the network
// called name ("" for the default network; DefaultNetworkName is compod's
// own bridge unless the conf dir has a network of that name), with its
// description. The Config names the network's file, so that the pod's
// DEL runs against it whatever the conf dir holds by then.
func Resolve(cfg Config, name string) (Config, NetworkInfo, error) {
	l, err := List(cfg)
	if err != nil {
		return Config{}, NetworkInfo{}, err
	}
	if name == "" {
		if l.Default == "" {
			return Config{}, NetworkInfo{}, errors.New(l.DefaultErr)
		}
		name = l.Default
	}
	info := l.find(name)
	if info == nil {
		where := "no CNI conf dir is set"
		if cfg.ConfDir != "" {
			where = "CNI conf dir " + cfg.ConfDir
		}
		return Config{}, NetworkInfo{}, fmt.Errorf("%w %q (%s): %s", ErrUnknownNetwork, name, where, l.available())
	}
	out := cfg
	out.BinDirs = append([]string(nil), cfg.BinDirs...)
	out.DefaultNetwork = ""
	if info.BuiltIn {
		out.ConfDir, out.ConfFile = "", ""
		out.DefaultNetVersion = DefaultNetVersion
	} else {
		out.ConfFile = info.File
	}
	return out, *info, nil
}
