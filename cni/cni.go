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
	"sync"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/compod/compod/internal/nspin"
)

// Config says where the CNI configuration, plugins and state live. A pod
// record keeps the Config its network was attached with (Network.Config),
// so that its DEL runs against that network whatever compod is configured
// with by the time the pod is removed.
type Config struct {
	// ConfDir is the operator's CNI conf dir; the first .conflist, .conf
	// or .json file in it by name is the pod network. "" means compod's
	// default network (see DefaultNetworkName).
	ConfDir string `json:"confDir,omitempty"`
	// ConfFile, with a ConfDir, is the network's config file: the file
	// is loaded as it is, rather than the first file of ConfDir (which
	// may have changed since the pod was attached).
	ConfFile string `json:"confFile,omitempty"`
	// BinDirs are searched for plugin binaries, in order. Default
	// ["/opt/cni/bin", "/usr/lib/cni"].
	BinDirs []string `json:"binDirs,omitempty"`
	// StateDir is compod's state dir (required). The default network's
	// conflist is written to <StateDir>/cni/net.d and libcni's result
	// cache (which DEL needs) to <StateDir>/cni/cache.
	StateDir string `json:"stateDir"`
	// IPAMDir holds the default network's host-local IP reservations.
	// Default DefaultIPAMDir. It is host-wide, not per state dir: every
	// compod on a host shares the compod0 bridge and its subnet, so two
	// state dirs (a developer's and an executor's, or two executors) must
	// not hand out the same address.
	IPAMDir string `json:"ipamDir,omitempty"`
	// IfName is the pod's interface name. Default "eth0".
	IfName string `json:"ifName,omitempty"`
	// DefaultNetwork names the network of ConfDir that pods go on when
	// nothing else names one (see Resolve). "" means the only network
	// of ConfDir, or compod's default network when ConfDir has none.
	DefaultNetwork string `json:"defaultNetwork,omitempty"`
	// DefaultNetVersion, with no ConfDir, says which conflist of compod's
	// default network the pod was attached with (defaultnet.go):
	// DEL must run the plugins ADD ran. Resolve gives new pods the
	// current one; records from before it say 0, the first.
	DefaultNetVersion int `json:"defaultNetVersion,omitempty"`
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
	IP        string   `json:"ip"`            // the pod's IPv4 address (IPv6 if it has none)
	IPs       []string `json:"ips,omitempty"` // every address of the interface, IPv4 first
	Gateway   string   `json:"gateway,omitempty"`
	Interface string   `json:"interface"` // inside the pod, e.g. eth0
	MAC       string   `json:"mac,omitempty"`
	Network   string   `json:"network"` // conflist name
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
	config   Config // effective: defaults filled in
	// hostRules: the network is compod's default network, whose NAT and
	// FORWARD rules are host-wide (defaultrules.go), made sure of at ADD.
	hostRules bool

	mu        sync.Mutex
	validated bool // Validate succeeded once
}

// loopbackConf brings up lo in the pod (services of a pod talk to each
// other over localhost), as containerd's CRI does with go-cni's
// WithLoNetwork.
const loopbackConf = `{"cniVersion": "1.0.0", "name": "cni-loopback", "plugins": [{"type": "loopback"}]}`

var confExts = []string{".conflist", ".conf", ".json"}

// New loads the network: cfg.ConfFile, else the first config file in
// cfg.ConfDir, else compod's default network written (when missing or
// different) under cfg.StateDir. It does not look for the plugins: a
// loaded network also removes pods, and an engine that only lists pods,
// reads their logs or removes them must come up without them. Setup looks
// for them and checks their versions (Validate); Remove looks for them
// and says which one is missing.
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
	n := newNetwork(stateDir, binDirs, ifName)

	ipamDir := cfg.IPAMDir
	if ipamDir == "" {
		ipamDir = DefaultIPAMDir
	}
	switch {
	case cfg.ConfDir == "" && cfg.DefaultNetVersion < DefaultNetVersion:
		// A pod attached with an earlier conflist of the default network
		// is removed with that one (it is not written out).
		n.list, err = libcni.ConfListFromBytes(defaultConfList(ipamDir, cfg.DefaultNetVersion))
		if err != nil {
			panic(err) // a constant
		}
		n.file = filepath.Join(stateDir, "cni", "net.d", defaultConfName)
	case cfg.ConfDir == "":
		n.file, err = writeDefaultConf(stateDir, ipamDir)
		if err != nil {
			return nil, err
		}
		n.list, err = libcni.ConfListFromFile(n.file)
		if err != nil {
			return nil, fmt.Errorf("loading compod's default CNI network %s: %w", n.file, err)
		}
		n.hostRules = true
	case cfg.ConfFile != "":
		n.file = cfg.ConfFile
		n.list, err = loadConfFile(cfg.ConfFile, fmt.Sprintf("restore it (the pod's network was attached with it, from CNI conf dir %s)", cfg.ConfDir))
		if err != nil {
			return nil, err
		}
	default:
		n.file, n.list, err = loadConfDir(cfg.ConfDir)
		if err != nil {
			return nil, err
		}
	}
	n.config = Config{ConfDir: cfg.ConfDir, BinDirs: binDirs, StateDir: stateDir, IPAMDir: ipamDir, IfName: ifName}
	if cfg.ConfDir == "" {
		n.config.DefaultNetVersion = min(cfg.DefaultNetVersion, DefaultNetVersion)
	}
	if cfg.ConfDir != "" {
		n.config.ConfFile = n.file
	}
	return n, nil
}

// newNetwork is a Network without a conflist yet: libcni with compod's
// result cache, and the loopback network.
func newNetwork(stateDir string, binDirs []string, ifName string) *Network {
	n := &Network{
		ifName:   ifName,
		binDirs:  binDirs,
		cacheDir: filepath.Join(stateDir, "cni", "cache"),
	}
	n.cni = libcni.NewCNIConfigWithCacheDir(binDirs, n.cacheDir, &invoke.DefaultExec{
		RawExec:       &invoke.RawExec{Stderr: os.Stderr},
		PluginDecoder: version.PluginDecoder{},
	})
	lo, err := libcni.ConfListFromBytes([]byte(loopbackConf))
	if err != nil {
		panic(err) // a constant
	}
	n.lo = lo
	return n
}

// lists are the conflists the network runs: its own (none for a
// loopback-only network) and the loopback.
func (n *Network) lists() []*libcni.NetworkConfigList {
	if n.list == nil {
		return []*libcni.NetworkConfigList{n.lo}
	}
	return []*libcni.NetworkConfigList{n.list, n.lo}
}

// Config is what the network was loaded from, defaults filled in and the
// config file named: New(n.Config()) loads the same network again.
func (n *Network) Config() Config {
	c := n.config
	c.BinDirs = append([]string(nil), c.BinDirs...)
	return c
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
	list, err := loadConfFile(file, fmt.Sprintf("fix or remove it (CNI conf dir %s: the first file by name is the pod network)", dir))
	if err != nil {
		return "", nil, err
	}
	return file, list, nil
}

// loadConfFile loads a .conflist, or a .conf or .json with one plugin;
// fix says what to do when it cannot.
func loadConfFile(file, fix string) (*libcni.NetworkConfigList, error) {
	var (
		list *libcni.NetworkConfigList
		err  error
	)
	if strings.HasSuffix(file, ".conflist") {
		list, err = libcni.ConfListFromFile(file)
		if err != nil {
			return nil, fmt.Errorf("loading CNI config %s: %w: %s", file, err, fix)
		}
	} else {
		// A single-plugin .conf is deprecated by the CNI spec but still
		// what many hosts' net.d holds (containerd's CRI reads it too):
		// operators' networks are taken as they are.
		//lint:ignore SA1019 see above
		conf, err := libcni.ConfFromFile(file)
		if err != nil {
			return nil, fmt.Errorf("loading CNI config %s: %w: %s", file, err, fix)
		}
		if conf.Network.Type == "" {
			return nil, fmt.Errorf("loading CNI config %s: no plugin \"type\" (a conflist needs the .conflist extension): %s", file, fix)
		}
		//lint:ignore SA1019 see above
		if list, err = libcni.ConfListFromConf(conf); err != nil {
			return nil, fmt.Errorf("loading CNI config %s: %w: %s", file, err, fix)
		}
	}
	if len(list.Plugins) == 0 {
		return nil, fmt.Errorf("CNI config %s has no plugins: %s", file, fix)
	}
	return list, nil
}

// ErrPluginNotFound is in the error of Validate, Setup and Remove when a
// plugin the network needs is in none of the bin dirs.
var ErrPluginNotFound = errors.New("not found")

// findPlugins checks that every plugin (and IPAM plugin) of the network
// and of the loopback network is in the bin dirs; what names the
// operation, for the error.
func (n *Network) findPlugins(what string) error {
	for _, l := range n.lists() {
		src := n.file
		if l == n.lo {
			src = "compod's loopback network"
		}
		for _, p := range l.Plugins {
			for _, t := range []string{p.Network.Type, p.Network.IPAM.Type} {
				if t == "" {
					continue
				}
				if _, err := invoke.FindInPath(t, n.binDirs); err != nil {
					return fmt.Errorf("CNI plugin %q %w in the CNI bin dirs %s; it is needed %s network %q (%s): install containernetworking-plugins or set the CNI bin dirs",
						t, ErrPluginNotFound, strings.Join(n.binDirs, ":"), what, l.Name, src)
				}
			}
		}
	}
	return nil
}

// Validate checks that the network's plugins are there and speak the
// config's cniVersion. Setup calls it (once per Network); up calls it
// early, to fail before pulling images.
func (n *Network) Validate(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.validated {
		return nil
	}
	if err := n.findPlugins("to attach a pod to"); err != nil {
		return err
	}
	for _, l := range n.lists() {
		src := n.file
		if l == n.lo {
			src = "compod's loopback network"
		}
		key := n.validationKey(l)
		if n.wasValidated(key) {
			continue
		}
		if _, err := n.cni.ValidateNetworkList(ctx, l); err != nil {
			return fmt.Errorf("CNI network %q (%s): %w", l.Name, src, err)
		}
		n.rememberValidated(key)
	}
	n.validated = true
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

func (n *Network) runtimeConf(podID, netnsPath, ifName string, o *Options) *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: podID, NetNS: netnsPath, IfName: ifName}
	if o == nil {
		return rt
	}
	// libcni passes each capability argument only to the plugins that
	// declare the capability.
	caps := map[string]interface{}{}
	if len(o.Ports) > 0 {
		pm := make([]portMapEntry, 0, len(o.Ports))
		for _, p := range o.Ports {
			pm = append(pm, portMapEntry{
				HostPort:      int(p.HostPort),
				ContainerPort: int(p.ContainerPort),
				Protocol:      protocol(p.Protocol),
				HostIP:        hostIP(p.HostIP),
			})
		}
		caps[CapPortMappings] = pm
	}
	if len(o.IPs) > 0 {
		caps[CapIPs] = o.IPs
	}
	if o.MAC != "" {
		caps[CapMAC] = o.MAC
	}
	if o.Bandwidth != nil {
		caps[CapBandwidth] = o.Bandwidth
	}
	if len(caps) > 0 {
		rt.CapabilityArgs = caps
	}
	if len(o.Args) > 0 {
		keys := make([]string, 0, len(o.Args))
		for k := range o.Args {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		// The reference plugins refuse CNI_ARGS they do not know
		// unless told to ignore them; labels are for whichever plugin
		// of the network reads them.
		rt.Args = [][2]string{{"IgnoreUnknown", "true"}}
		for _, k := range keys {
			rt.Args = append(rt.Args, [2]string{k, o.Args[k]})
		}
	}
	return rt
}

func configArgs(o *Options) map[string]any {
	if o == nil {
		return nil
	}
	return o.ConfigArgs
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
	if err := n.Validate(ctx); err != nil {
		return nil, err
	}
	o := &Options{Ports: ports}
	undo := func(err error) error {
		if derr := n.Remove(context.WithoutCancel(ctx), podID, netnsPath, ports); derr != nil {
			return fmt.Errorf("%w (and undoing it: %v)", err, derr)
		}
		return err
	}
	if err := n.addLoopback(ctx, podID, netnsPath); err != nil {
		return nil, undo(err)
	}
	att, err := n.add(ctx, podID, netnsPath, o)
	if err != nil {
		return nil, undo(err)
	}
	return att, nil
}

func (n *Network) addLoopback(ctx context.Context, podID, netnsPath string) error {
	if _, err := n.cni.AddNetworkList(ctx, n.lo, n.runtimeConf(podID, netnsPath, "lo", nil)); err != nil {
		return fmt.Errorf("CNI ADD of loopback: %w", err)
	}
	return nil
}

func (n *Network) delLoopback(ctx context.Context, podID, netnsPath string) error {
	if err := n.cni.DelNetworkList(ctx, n.lo, n.runtimeConf(podID, netnsPath, "lo", nil)); err != nil {
		return fmt.Errorf("CNI DEL of loopback: %w", err)
	}
	return nil
}

// add runs CNI ADD of the network alone (no loopback, no undo).
func (n *Network) add(ctx context.Context, podID, netnsPath string, o *Options) (*Attachment, error) {
	list, err := n.withConfigArgs(configArgs(o))
	if err != nil {
		return nil, err
	}
	// The default network's host-wide rules are checked while the
	// plugins run: nothing goes through them before ADD returns.
	var rulesC chan error
	if n.hostRules {
		rulesC = make(chan error, 1)
		go func() { rulesC <- ensureDefaultRules(defaultRulesLockDir) }()
	}
	res, err := n.cni.AddNetworkList(ctx, list, n.runtimeConf(podID, netnsPath, n.ifName, o))
	if rulesC != nil {
		if rerr := <-rulesC; rerr != nil && err == nil {
			return nil, rerr
		}
	}
	if err != nil {
		return nil, fmt.Errorf("CNI ADD to network %q (%s): %w", n.list.Name, n.file, err)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("CNI ADD to network %q: reading result: %w", n.list.Name, err)
	}
	att := &Attachment{Interface: n.ifName, Network: n.list.Name}
	ipc := pickIP(r, n.ifName)
	if ipc == nil {
		return nil, fmt.Errorf("CNI ADD to network %q gave the pod no IP address", n.list.Name)
	}
	att.IP = ipc.Address.IP.String()
	if ipc.Gateway != nil {
		att.Gateway = ipc.Gateway.String()
	}
	att.IPs, att.MAC = podAddresses(r, n.ifName)
	return att, nil
}

// podAddresses lists the addresses (IPv4 first) and the MAC address of
// the pod's interface in a result.
func podAddresses(r *types100.Result, ifName string) ([]string, string) {
	ifIndex, mac := -1, ""
	for i, itf := range r.Interfaces {
		if itf.Name == ifName && itf.Sandbox != "" {
			ifIndex, mac = i, itf.Mac
		}
	}
	var v4, v6 []string
	for _, ipc := range r.IPs {
		if ipc.Interface != nil && ifIndex >= 0 && *ipc.Interface != ifIndex {
			continue
		}
		if ipc.Address.IP.To4() != nil {
			v4 = append(v4, ipc.Address.IP.String())
		} else {
			v6 = append(v6, ipc.Address.IP.String())
		}
	}
	return append(v4, v6...), mac
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
//
// A plugin missing from the bin dirs fails Remove before anything is
// undone (the error wraps ErrPluginNotFound): the attachment stays whole,
// for a Remove once the plugin is back.
func (n *Network) Remove(ctx context.Context, podID, netnsPath string, ports []PortMapping) error {
	if podID == "" {
		return errors.New("cni: Remove needs a pod id")
	}
	if err := n.findPlugins("to remove pod " + podID + " from"); err != nil {
		return err
	}
	if netnsPath != "" && !nspin.IsPinned(netnsPath) {
		netnsPath = ""
	}
	return errors.Join(n.del(ctx, podID, netnsPath, &Options{Ports: ports}), n.delLoopback(ctx, podID, netnsPath))
}

// del runs CNI DEL of the network alone (no loopback); netnsPath is ""
// when the netns is gone. The caller has found the plugins.
func (n *Network) del(ctx context.Context, podID, netnsPath string, o *Options) error {
	var errs []error
	if netnsPath == "" {
		// Without the netns the bridge plugin cannot delete the pod's
		// veth. It normally went with the netns; if a process still
		// holds the netns, unplug the veth now, before its address is
		// freed for the next pod.
		if err := n.deleteHostVeths(podID); err != nil {
			errs = append(errs, err)
		}
	}
	// Before DEL frees them: the addresses whose firewall rules DEL
	// cannot remove (no cached result of an interrupted ADD).
	orphanIPs := n.orphanFirewallIPs(podID)
	if list, err := n.withConfigArgs(configArgs(o)); err != nil {
		errs = append(errs, err)
	} else if err := n.cni.DelNetworkList(ctx, list, n.runtimeConf(podID, netnsPath, n.ifName, o)); err != nil {
		errs = append(errs, fmt.Errorf("CNI DEL from network %q (%s): %w", n.list.Name, n.file, err))
	}
	if err := removeFirewallRules(orphanIPs); err != nil {
		errs = append(errs, err)
	}
	if err := teardownIPMasq(n.list, podID); err != nil {
		errs = append(errs, err)
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
