// Package cnitest helps integration tests prove that pod networking leaves
// nothing behind: take a Snapshot before, one after, and AssertNoLeak.
// Only what appeared in between counts, so unrelated host state does not
// matter (state made by other processes at the same time would, though).
package cnitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/cni"
)

// State is the host's CNI-related state at one moment.
type State struct {
	NetNS []string // pins in /run/netns and the extra pin dirs (full paths)
	// PinMounts are the nsfs mounts on files of those dirs, one entry per
	// mount: a pin mounted twice, or a copy hidden beneath another mount
	// of its dir, shows up here even when its file is gone.
	PinMounts []string
	Veths     []string // host interfaces named veth*
	IPAM      []string // host-local reservations under cni.DefaultIPAMDir (relative)
	Cache     []string // libcni result cache entries under <stateDir>/cni/cache
	Chains    []string // iptables "table/chain" for chains named CNI-*
	Rules     []string // iptables "table: -A ..." rules in or jumping to CNI-* chains
	stateDir  string
	pinDirs   []string
	taken     bool // made by Snapshot
}

// Snapshot records netns pins (in /run/netns and pinDirs), veths, the
// host-local IPAM files and libcni cache under stateDir (lock and
// last_reserved_ip files excluded), and the nat and filter CNI-* iptables
// chains and rules.
func Snapshot(t testing.TB, stateDir string, pinDirs ...string) State {
	t.Helper()
	s, err := snapshot(stateDir, pinDirs)
	if err != nil {
		t.Fatalf("cnitest: %v", err)
	}
	return s
}

func snapshot(stateDir string, pinDirs []string) (State, error) {
	s := State{stateDir: stateDir, pinDirs: pinDirs, taken: true}
	dirs := append([]string{"/run/netns"}, pinDirs...)
	seen := map[string]bool{}
	for _, d := range dirs {
		d = filepath.Clean(d)
		if seen[d] {
			continue
		}
		seen[d] = true
		ents, err := os.ReadDir(d)
		if err != nil && !os.IsNotExist(err) {
			return s, err
		}
		for _, e := range ents {
			s.NetNS = append(s.NetNS, filepath.Join(d, e.Name()))
		}
	}
	pins, err := pinMounts(seen)
	if err != nil {
		return s, err
	}
	s.PinMounts = pins
	links, err := os.ReadDir("/sys/class/net")
	if err != nil {
		return s, err
	}
	for _, l := range links {
		if strings.HasPrefix(l.Name(), "veth") {
			s.Veths = append(s.Veths, l.Name())
		}
	}
	if stateDir != "" {
		if s.IPAM, err = files(cni.DefaultIPAMDir, func(name string) bool {
			return name != "lock" && !strings.HasPrefix(name, "last_reserved_ip")
		}); err != nil {
			return s, err
		}
		if s.Cache, err = files(filepath.Join(stateDir, "cni", "cache"), func(string) bool { return true }); err != nil {
			return s, err
		}
	}
	for _, table := range []string{"nat", "filter"} {
		chains, rules, err := iptablesSave(table)
		if err != nil {
			return s, err
		}
		s.Chains = append(s.Chains, chains...)
		s.Rules = append(s.Rules, rules...)
	}
	for _, l := range [][]string{s.NetNS, s.PinMounts, s.Veths, s.IPAM, s.Cache, s.Chains, s.Rules} {
		sort.Strings(l)
	}
	return s, nil
}

// pinMounts lists the mount points of nsfs mounts on files of dirs.
func pinMounts(dirs map[string]bool) ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		// id parent dev root mountpoint options [optional...] - fstype ...
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 5 || sep < 0 || sep+1 >= len(f) || f[sep+1] != "nsfs" {
			continue
		}
		if dirs[filepath.Dir(f[4])] {
			out = append(out, f[4])
		}
	}
	return out, nil
}

func files(root string, keep func(name string) bool) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() && keep(d.Name()) {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out, err
}

func iptablesSave(table string) (chains, rules []string, err error) {
	cmd := exec.Command("iptables-save", "-t", table)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, nil, fmt.Errorf("iptables-save -t %s: %v: %s", table, err, strings.TrimSpace(stderr.String()))
	}
	for _, line := range strings.Split(out.String(), "\n") {
		switch {
		case strings.HasPrefix(line, ":CNI-"):
			chains = append(chains, table+"/"+strings.Fields(line[1:])[0])
		case strings.HasPrefix(line, "-A "):
			f := strings.Fields(line)
			if len(f) > 1 && strings.HasPrefix(f[1], "CNI-") || strings.Contains(line, " -j CNI-") || strings.Contains(line, " -g CNI-") {
				rules = append(rules, table+": "+line)
			}
		}
	}
	return chains, rules, nil
}

// sharedChains are made once by the plugins (portmap, firewall) for all
// pods and never removed; their appearance is not a leak.
var sharedChains = map[string]bool{
	"nat/CNI-HOSTPORT-DNAT":    true,
	"nat/CNI-HOSTPORT-SETMARK": true,
	"nat/CNI-HOSTPORT-MASQ":    true,
	"filter/CNI-FORWARD":       true,
	"filter/CNI-ADMIN":         true,
}

var (
	ipRE    = regexp.MustCompile(`\b\d+\.\d+\.\d+\.\d+\b|[0-9a-fA-F]*:[0-9a-fA-F:]+/\d+`)
	jumpRE  = regexp.MustCompile(` -[jg] (CNI-\S+)`)
	tableRE = regexp.MustCompile(`^(\w+): `)
)

// perPodRule tells the rules the plugins add per pod (they name an
// address, a container id, or a per-pod chain) from the plugins' one-time
// setup rules that hook the shared chains in.
func perPodRule(r string) bool {
	if ipRE.MatchString(r) || strings.Contains(r, ` id: \"`) || strings.Contains(r, ` id: "`) {
		return true
	}
	table := tableRE.FindStringSubmatch(r)
	if m := jumpRE.FindStringSubmatch(r); m != nil && table != nil && !sharedChains[table[1]+"/"+m[1]] {
		return true
	}
	return false
}

// Leaks lists what is in after but not in s, by kind; empty means none.
func (s State) Leaks(after State) []string {
	var out []string
	add := func(kind string, xs []string) {
		if len(xs) > 0 {
			out = append(out, fmt.Sprintf("%s: %s", kind, strings.Join(xs, ", ")))
		}
	}
	add("netns pins", added(s.NetNS, after.NetNS, nil))
	add("netns pin mounts (in /proc/self/mountinfo)", added(s.PinMounts, after.PinMounts, nil))
	add("veths", added(s.Veths, after.Veths, nil))
	add("host-local IPAM reservations (under "+cni.DefaultIPAMDir+")", added(s.IPAM, after.IPAM, nil))
	add("libcni cache entries (under "+filepath.Join(after.stateDir, "cni", "cache")+")", added(s.Cache, after.Cache, nil))
	add("iptables chains", added(s.Chains, after.Chains, func(c string) bool { return !sharedChains[c] }))
	rules := added(s.Rules, after.Rules, perPodRule)
	if len(rules) > 0 {
		out = append(out, "iptables rules:\n\t"+strings.Join(rules, "\n\t"))
	}
	return out
}

// added is after minus before, as multisets, keeping what counts says.
func added(before, after []string, counts func(string) bool) []string {
	left := map[string]int{}
	for _, x := range before {
		left[x]++
	}
	var out []string
	for _, x := range after {
		if left[x] > 0 {
			left[x]--
			continue
		}
		if counts == nil || counts(x) {
			out = append(out, x)
		}
	}
	return slices.Compact(out)
}

// AssertNoLeak fails t listing exactly what appeared between s and after.
// A netns's veth goes away asynchronously after the netns is released, so
// when after came from Snapshot and shows leaks, it is taken again for a
// few seconds before failing.
func (s State) AssertNoLeak(t testing.TB, after State) {
	t.Helper()
	leaks := s.Leaks(after)
	for deadline := time.Now().Add(5 * time.Second); after.taken && len(leaks) > 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		again, err := snapshot(after.stateDir, after.pinDirs)
		if err != nil {
			t.Fatalf("cnitest: %v", err)
		}
		leaks = s.Leaks(again)
	}
	if len(leaks) > 0 {
		t.Errorf("leaked CNI state:\n%s", strings.Join(leaks, "\n"))
	}
}

// BridgeNetwork is a test network: a bridge of its own with a subnet of
// its own, host-local reservations under IPAMDir, and the capabilities
// compod passes (ips, mac; portMappings when Portmap; bandwidth when
// Bandwidth).
type BridgeNetwork struct {
	Name, Bridge, Subnet, IPAMDir string
	Portmap, Bandwidth            bool
	// Recorder, when set, chains the recorder plugin (./cni/cnitest/recorder,
	// built as a binary of that name) last, writing its records into
	// RecordDir.
	Recorder  bool
	RecordDir string
}

// ConfList is the network's conflist.
func (b BridgeNetwork) ConfList() []byte {
	type m = map[string]any
	plugins := []m{{
		"type": "bridge", "bridge": b.Bridge, "isGateway": true, "ipMasq": true,
		"capabilities": m{"mac": true},
		"ipam": m{
			"type": "host-local", "ranges": [][]m{{{"subnet": b.Subnet}}},
			"dataDir": b.IPAMDir,
		},
	}}
	if b.Portmap {
		plugins = append(plugins, m{"type": "portmap", "capabilities": m{"portMappings": true}, "snat": true})
	}
	if b.Bandwidth {
		plugins = append(plugins, m{"type": "bandwidth", "capabilities": m{"bandwidth": true}})
	}
	plugins = append(plugins, m{"type": "firewall", "backend": "iptables"})
	if b.Recorder {
		plugins = append(plugins, m{"type": "recorder", "recordDir": b.RecordDir})
	}
	// host-local takes static addresses from the ips capability.
	plugins[0]["capabilities"].(m)["ips"] = true
	out, err := json.MarshalIndent(m{"cniVersion": cni.DefaultCNIVersion, "name": b.Name, "plugins": plugins}, "", "  ")
	if err != nil {
		panic(err)
	}
	return out
}

// TwoBridges writes two bridge networks, cpdnet1 (which can publish
// ports) and cpdnet2, on the subnets given, into a private conf dir with
// one IPAM dir, and returns the dir and the networks.
func TwoBridges(t testing.TB, subnet1, subnet2 string) (confDir string, a, b BridgeNetwork) {
	t.Helper()
	confDir, ipam := t.TempDir(), t.TempDir()
	a = BridgeNetwork{Name: "cpdnet1", Bridge: "cpdnet1", Subnet: subnet1, IPAMDir: ipam, Portmap: true}
	b = BridgeNetwork{Name: "cpdnet2", Bridge: "cpdnet2", Subnet: subnet2, IPAMDir: ipam}
	a.Write(t, confDir)
	b.Write(t, confDir)
	return confDir, a, b
}

// Write writes the conflist into dir as <Name>.conflist and removes the
// bridge when the test ends (the bridge plugin never does).
func (b BridgeNetwork) Write(t testing.TB, dir string) string {
	t.Helper()
	file := filepath.Join(dir, b.Name+".conflist")
	if err := os.WriteFile(file, b.ConfList(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", "dev", b.Bridge).Run() })
	return file
}

// AssertNoReservations fails t if host-local holds an address of the
// network under its IPAMDir.
func (b BridgeNetwork) AssertNoReservations(t testing.TB) {
	t.Helper()
	left, err := files(filepath.Join(b.IPAMDir, b.Name), func(name string) bool {
		return name != "lock" && !strings.HasPrefix(name, "last_reserved_ip")
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("network %s: host-local reservations left in %s: %s", b.Name, b.IPAMDir, strings.Join(left, ", "))
	}
}
