// Package cni attaches a pod's network namespace to a CNI network: the
// operator's (first config in a CNI conf dir, like kubelet and containerd do)
// or compod's default bridge network. It knows nothing about compose.
//
// It drives the CNI plugins through libcni, the library go-cni wraps, rather
// than through go-cni itself: go-cni has no way to move libcni's result cache
// off /var/lib/cni, and compod keeps all its state, including that cache,
// under its own state dir.
package cni

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
)

// Config says where the CNI configuration, plugins and state live.
type Config struct {
	// ConfDir is the operator's CNI conf dir; the first .conflist, .conf
	// or .json file in it by name is the pod network. "" means compod's
	// default network (see DefaultNetworkName).
	ConfDir string
	// BinDirs are searched for plugin binaries, in order. Default
	// ["/opt/cni/bin", "/usr/lib/cni"].
	BinDirs []string
	// StateDir is compod's state dir (required). The default network's
	// conflist is written to <StateDir>/cni/net.d and libcni's result
	// cache (which DEL needs) to <StateDir>/cni/cache.
	StateDir string
	// IPAMDir holds the default network's host-local IP reservations.
	// Default DefaultIPAMDir. It is host-wide, not per state dir: every
	// compod on a host shares the compod0 bridge and its subnet, so two
	// state dirs (a developer's and an executor's, or two executors) must
	// not hand out the same address.
	IPAMDir string
	// IfName is the pod's interface name. Default "eth0".
	IfName string
}

// PortMapping publishes ContainerPort of the pod on HostPort of the host.
// HostIP "" (or 0.0.0.0) means all host addresses; Protocol "" means tcp.
type PortMapping struct {
	HostIP        string
	HostPort      uint16
	ContainerPort uint16
	Protocol      string
}

// Attachment is what CNI ADD gave the pod.
type Attachment struct {
	IP        string // the pod's IPv4 address (IPv6 if it has none)
	Gateway   string
	Interface string // inside the pod, e.g. eth0
	Network   string // conflist name
}

// Defaults.
var DefaultBinDirs = []string{"/opt/cni/bin", "/usr/lib/cni"}

const DefaultIfName = "eth0"

// Network is a loaded CNI network.
type Network struct {
	cni      *libcni.CNIConfig
	list     *libcni.NetworkConfigList
	lo       *libcni.NetworkConfigList
	file     string
	ifName   string
	binDirs  []string
	cacheDir string
}

// loopbackConf brings up lo in the pod (services of a pod talk to each
// other over localhost), as containerd's CRI does with go-cni's
// WithLoNetwork.
const loopbackConf = `{"cniVersion": "1.0.0", "name": "cni-loopback", "plugins": [{"type": "loopback"}]}`

var confExts = []string{".conflist", ".conf", ".json"}

// New loads the network: the first config file in cfg.ConfDir, or compod's
// default network written (when missing or different) under cfg.StateDir.
// It checks that every plugin the network needs is in cfg.BinDirs and
// supports the config's cniVersion.
func New(cfg Config) (*Network, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("cni: Config.StateDir is required")
	}
	stateDir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	binDirs := cfg.BinDirs
	if len(binDirs) == 0 {
		binDirs = DefaultBinDirs
	}
	ifName := cfg.IfName
	if ifName == "" {
		ifName = DefaultIfName
	}
	n := &Network{
		ifName:   ifName,
		binDirs:  binDirs,
		cacheDir: filepath.Join(stateDir, "cni", "cache"),
	}
	n.cni = libcni.NewCNIConfigWithCacheDir(binDirs, n.cacheDir, &invoke.DefaultExec{
		RawExec:       &invoke.RawExec{Stderr: os.Stderr},
		PluginDecoder: version.PluginDecoder{},
	})

	if cfg.ConfDir == "" {
		n.file, err = writeDefaultConf(stateDir, cfg.IPAMDir)
		if err != nil {
			return nil, err
		}
		n.list, err = libcni.ConfListFromFile(n.file)
		if err != nil {
			return nil, fmt.Errorf("loading compod's default CNI network %s: %w", n.file, err)
		}
	} else {
		n.file, n.list, err = loadConfDir(cfg.ConfDir)
		if err != nil {
			return nil, err
		}
	}
	if n.lo, err = libcni.ConfListFromBytes([]byte(loopbackConf)); err != nil {
		return nil, err
	}
	if err := n.validate(); err != nil {
		return nil, err
	}
	return n, nil
}

// loadConfDir picks the network like go-cni's WithDefaultConf and kubelet:
// the first config file by name. An unusable first file is an error rather
// than silently skipped, so an operator's typo does not put pods on an
// unexpected network.
func loadConfDir(dir string) (string, *libcni.NetworkConfigList, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", nil, fmt.Errorf("CNI conf dir %s: %w (create it with a network .conflist, or leave the CNI conf dir unset to use compod's default network)", dir, err)
	}
	if !st.IsDir() {
		return "", nil, fmt.Errorf("CNI conf dir %s is not a directory", dir)
	}
	files, err := libcni.ConfFiles(dir, confExts)
	if err != nil {
		return "", nil, fmt.Errorf("reading CNI conf dir %s: %w", dir, err)
	}
	if len(files) == 0 {
		return "", nil, fmt.Errorf("CNI conf dir %s has no network config (*.conflist, *.conf or *.json): add one, or leave the CNI conf dir unset to use compod's default network", dir)
	}
	sort.Strings(files)
	file := files[0]
	fix := fmt.Sprintf("fix or remove it (CNI conf dir %s: the first file by name is the pod network)", dir)
	var list *libcni.NetworkConfigList
	if strings.HasSuffix(file, ".conflist") {
		list, err = libcni.ConfListFromFile(file)
		if err != nil {
			return "", nil, fmt.Errorf("loading CNI config %s: %w: %s", file, err, fix)
		}
	} else {
		conf, err := libcni.ConfFromFile(file)
		if err != nil {
			return "", nil, fmt.Errorf("loading CNI config %s: %w: %s", file, err, fix)
		}
		if conf.Network.Type == "" {
			return "", nil, fmt.Errorf("loading CNI config %s: no plugin \"type\" (a conflist needs the .conflist extension): %s", file, fix)
		}
		if list, err = libcni.ConfListFromConf(conf); err != nil {
			return "", nil, fmt.Errorf("loading CNI config %s: %w: %s", file, err, fix)
		}
	}
	if len(list.Plugins) == 0 {
		return "", nil, fmt.Errorf("CNI config %s has no plugins: %s", file, fix)
	}
	return file, list, nil
}

// validate checks that the plugins exist and speak the config's version.
func (n *Network) validate() error {
	ctx := context.Background()
	for _, l := range []*libcni.NetworkConfigList{n.list, n.lo} {
		src := n.file
		if l == n.lo {
			src = "compod's loopback network"
		}
		for _, p := range l.Plugins {
			if _, err := invoke.FindInPath(p.Network.Type, n.binDirs); err != nil {
				return fmt.Errorf("CNI plugin %q (network %q, %s) not found in %s: install containernetworking-plugins or set the CNI bin dirs", p.Network.Type, l.Name, src, strings.Join(n.binDirs, ":"))
			}
			if t := p.Network.IPAM.Type; t != "" {
				if _, err := invoke.FindInPath(t, n.binDirs); err != nil {
					return fmt.Errorf("CNI IPAM plugin %q (network %q, %s) not found in %s: install containernetworking-plugins or set the CNI bin dirs", t, l.Name, src, strings.Join(n.binDirs, ":"))
				}
			}
		}
		if _, err := n.cni.ValidateNetworkList(ctx, l); err != nil {
			return fmt.Errorf("CNI network %q (%s): %w", l.Name, src, err)
		}
	}
	return nil
}

// Name is the network's (conflist) name.
func (n *Network) Name() string { return n.list.Name }

// ConfFile is the config file the network was loaded from.
func (n *Network) ConfFile() string { return n.file }

type portMapEntry struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

func (n *Network) runtimeConf(podID, netnsPath, ifName string, ports []PortMapping) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: podID, NetNS: netnsPath, IfName: ifName}
	if len(ports) > 0 {
		pm := make([]portMapEntry, 0, len(ports))
		for _, p := range ports {
			pm = append(pm, portMapEntry{
				HostPort:      int(p.HostPort),
				ContainerPort: int(p.ContainerPort),
				Protocol:      protocol(p.Protocol),
				HostIP:        hostIP(p.HostIP),
			})
		}
		// libcni only passes it to plugins that declare the capability.
		rt.CapabilityArgs = map[string]interface{}{"portMappings": pm}
	}
	return rt
}

func protocol(p string) string {
	if p == "" {
		return "tcp"
	}
	return strings.ToLower(p)
}

// hostIP maps "all addresses" to "", which is what portmap understands.
func hostIP(ip string) string {
	if parsed := net.ParseIP(ip); parsed != nil && parsed.IsUnspecified() {
		return ""
	}
	return ip
}

// Setup runs CNI ADD for the pod: lo comes up, the pod gets an address on
// the network and ports are published. podID identifies the attachment
// (IPAM reservation, iptables chains); Remove must get the same podID and
// ports. If ADD fails, what it did is undone before the error returns.
func (n *Network) Setup(ctx context.Context, podID, netnsPath string, ports []PortMapping) (*Attachment, error) {
	if podID == "" || netnsPath == "" {
		return nil, errors.New("cni: Setup needs a pod id and a netns path")
	}
	undo := func(err error) error {
		if derr := n.Remove(context.WithoutCancel(ctx), podID, netnsPath, ports); derr != nil {
			return fmt.Errorf("%w (and undoing it: %v)", err, derr)
		}
		return err
	}
	if _, err := n.cni.AddNetworkList(ctx, n.lo, n.runtimeConf(podID, netnsPath, "lo", nil)); err != nil {
		return nil, undo(fmt.Errorf("CNI ADD of loopback: %w", err))
	}
	res, err := n.cni.AddNetworkList(ctx, n.list, n.runtimeConf(podID, netnsPath, n.ifName, ports))
	if err != nil {
		return nil, undo(fmt.Errorf("CNI ADD to network %q (%s): %w", n.list.Name, n.file, err))
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, undo(fmt.Errorf("CNI ADD to network %q: reading result: %w", n.list.Name, err))
	}
	att := &Attachment{Interface: n.ifName, Network: n.list.Name}
	ipc := pickIP(r, n.ifName)
	if ipc == nil {
		return nil, undo(fmt.Errorf("CNI ADD to network %q gave the pod no IP address", n.list.Name))
	}
	att.IP = ipc.Address.IP.String()
	if ipc.Gateway != nil {
		att.Gateway = ipc.Gateway.String()
	}
	return att, nil
}

// pickIP returns the first IPv4 (else IPv6) address of the pod's interface.
func pickIP(r *types100.Result, ifName string) *types100.IPConfig {
	ifIndex := -1
	for i, itf := range r.Interfaces {
		if itf.Name == ifName && itf.Sandbox != "" {
			ifIndex = i
		}
	}
	var best *types100.IPConfig
	for _, ipc := range r.IPs {
		if ipc.Interface != nil && ifIndex >= 0 && *ipc.Interface != ifIndex {
			continue
		}
		if best == nil || (best.Address.IP.To4() == nil && ipc.Address.IP.To4() != nil) {
			best = ipc
		}
	}
	return best
}

// Remove runs CNI DEL for the pod. It is idempotent and also works when
// the netns is gone (pin released, or never made): DEL then runs with an
// empty netns, which frees the IPAM reservation and the port mapping and
// firewall rules, and compod removes the bridge's masquerade chain itself
// (plugins 1.1.1 skip it without a netns). The veth goes with the netns.
func (n *Network) Remove(ctx context.Context, podID, netnsPath string, ports []PortMapping) error {
	if podID == "" {
		return errors.New("cni: Remove needs a pod id")
	}
	var errs []error
	if netnsPath != "" && !isNetNS(netnsPath) {
		netnsPath = ""
	}
	if netnsPath == "" {
		// Without the netns the bridge plugin cannot delete the pod's
		// veth. It normally went with the netns; if a process still
		// holds the netns, unplug the veth now, before its address is
		// freed for the next pod.
		if err := n.deleteHostVeths(podID); err != nil {
			errs = append(errs, err)
		}
	}
	if err := n.cni.DelNetworkList(ctx, n.list, n.runtimeConf(podID, netnsPath, n.ifName, ports)); err != nil {
		errs = append(errs, fmt.Errorf("CNI DEL from network %q (%s): %w", n.list.Name, n.file, err))
	}
	if err := teardownIPMasq(n.list, podID); err != nil {
		errs = append(errs, err)
	}
	if err := n.cni.DelNetworkList(ctx, n.lo, n.runtimeConf(podID, netnsPath, "lo", nil)); err != nil {
		errs = append(errs, fmt.Errorf("CNI DEL of loopback: %w", err))
	}
	return errors.Join(errs...)
}

// deleteHostVeths deletes the host ends of the pod's veths, as recorded in
// libcni's cache by ADD (checked by name, kind and MAC address).
func (n *Network) deleteHostVeths(podID string) error {
	res, err := n.cni.GetNetworkListCachedResult(n.list, n.runtimeConf(podID, "", n.ifName, nil))
	if err != nil || res == nil {
		return nil // nothing cached, nothing known to delete
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil
	}
	var errs []error
	for _, itf := range r.Interfaces {
		if itf.Sandbox != "" || itf.Name == "" || strings.ContainsRune(itf.Name, '/') {
			continue
		}
		sys := filepath.Join("/sys/class/net", itf.Name)
		mac, err := os.ReadFile(filepath.Join(sys, "address"))
		if err != nil || !strings.EqualFold(strings.TrimSpace(string(mac)), itf.Mac) {
			continue // gone, or not the one ADD made
		}
		out, err := exec.Command("ip", "-d", "-o", "link", "show", "dev", itf.Name).Output()
		if err != nil || !strings.Contains(string(out), " veth ") {
			continue // the bridge, or not a veth
		}
		if out, err := exec.Command("ip", "link", "del", "dev", itf.Name).CombinedOutput(); err != nil {
			if _, serr := os.Stat(sys); serr == nil {
				errs = append(errs, fmt.Errorf("deleting veth %s of pod %s: %v: %s", itf.Name, podID, err, strings.TrimSpace(string(out))))
			}
		}
	}
	return errors.Join(errs...)
}
