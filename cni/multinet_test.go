package cni_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compod/compod/cni"
	"github.com/compod/compod/cni/cnitest"
)

// twoNetworks writes two bridge networks with subnets of their own into a
// private conf dir; the first can publish ports.
func twoNetworks(t *testing.T) (cni.Config, cnitest.BridgeNetwork, cnitest.BridgeNetwork) {
	t.Helper()
	confDir, a, b := cnitest.TwoBridges(t, "10.197.1.0/24", "10.197.2.0/24")
	return cni.Config{ConfDir: confDir, BinDirs: testBinDirs, StateDir: newStateDir(t), DefaultNetwork: "cpdnet1"}, a, b
}

func request(t *testing.T, cfg cni.Config, name, ifName string, o cni.Options) cni.NetworkRequest {
	t.Helper()
	c, _, err := cni.Resolve(cfg, name)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", name, err)
	}
	c.IfName = ifName
	return cni.NetworkRequest{Name: name, Config: c, Options: o}
}

func TestPodOnTwoNetworks(t *testing.T) {
	requireRoot(t)
	requirePlugins(t)
	cfg, a, b := twoNetworks(t)
	before := cnitest.Snapshot(t, cfg.StateDir)
	id := podID(t)
	path := pin(t, newNetNSDir(t), "pod")
	const mac = "02:42:c0:a8:01:07"
	reqs := []cni.NetworkRequest{
		request(t, cfg, "cpdnet1", "eth0", cni.Options{MAC: mac}),
		request(t, cfg, "cpdnet2", "eth1", cni.Options{IPs: []string{"10.197.2.77/24"}}),
	}
	atts, err := cni.Attach(context.Background(), cfg, id, path, reqs)
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	if len(atts) != 2 {
		t.Fatalf("got %d attachments, want 2: %+v", len(atts), atts)
	}
	if !strings.HasPrefix(atts[0].IP, "10.197.1.") || atts[0].Interface != "eth0" || atts[0].Network != "cpdnet1" {
		t.Errorf("first attachment %+v: want an address of 10.197.1.0/24 on eth0 of cpdnet1", atts[0])
	}
	if atts[1].IP != "10.197.2.77" || atts[1].Interface != "eth1" || atts[1].Network != "cpdnet2" {
		t.Errorf("second attachment %+v: want the static 10.197.2.77 on eth1 of cpdnet2", atts[1])
	}
	// What the pod itself sees.
	inNetNS(t, path, func() error {
		for _, want := range []struct{ ifName, ip, mac string }{{"eth0", atts[0].IP, mac}, {"eth1", "10.197.2.77", ""}} {
			itf, err := net.InterfaceByName(want.ifName)
			if err != nil {
				return err
			}
			addrs, _ := itf.Addrs()
			if !strings.Contains(addrsString(addrs), want.ip+"/24") {
				t.Errorf("%s has %s, want %s", want.ifName, addrsString(addrs), want.ip)
			}
			if want.mac != "" && itf.HardwareAddr.String() != want.mac {
				t.Errorf("%s has MAC %s, want %s", want.ifName, itf.HardwareAddr, want.mac)
			}
		}
		return nil
	})
	serve(t, path, 8080)
	for _, att := range atts {
		if got := get(t, net.JoinHostPort(att.IP, "8080")); got != "pod port 8080" {
			t.Errorf("from the host through %s (%s): got %q", att.Network, att.IP, got)
		}
	}
	if err := cni.Detach(context.Background(), cfg, id, path, reqs); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	if err := cni.ReleaseNetNS(path); err != nil {
		t.Fatal(err)
	}
	before.AssertNoLeak(t, cnitest.Snapshot(t, cfg.StateDir))
	a.AssertNoReservations(t)
	b.AssertNoReservations(t)
}

func addrsString(addrs []net.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}

// A second network that fails its ADD (an address outside its subnet)
// leaves nothing of the first behind.
func TestAttachFailureUndoesEveryNetwork(t *testing.T) {
	requireRoot(t)
	requirePlugins(t)
	cfg, a, b := twoNetworks(t)
	before := cnitest.Snapshot(t, cfg.StateDir)
	id := podID(t)
	path := pin(t, newNetNSDir(t), "pod")
	reqs := []cni.NetworkRequest{
		request(t, cfg, "cpdnet1", "eth0", cni.Options{}),
		request(t, cfg, "cpdnet2", "eth1", cni.Options{IPs: []string{"10.1.2.3/24"}}),
	}
	_, err := cni.Attach(context.Background(), cfg, id, path, reqs)
	if err == nil || !strings.Contains(err.Error(), `network "cpdnet2"`) {
		t.Fatalf("Attach: got %v, want an error naming cpdnet2", err)
	}
	cni.ReleaseNetNS(path)
	before.AssertNoLeak(t, cnitest.Snapshot(t, cfg.StateDir))
	a.AssertNoReservations(t)
	b.AssertNoReservations(t)
}

// A network whose plugin is not installed fails before anything is done.
func TestAttachMissingPluginDoesNothing(t *testing.T) {
	requireRoot(t)
	requirePlugins(t)
	cfg, a, _ := twoNetworks(t)
	os.WriteFile(filepath.Join(cfg.ConfDir, "cpdnet3.conflist"), []byte(`{"cniVersion":"1.0.0","name":"cpdnet3","plugins":[{"type":"cpd-no-such-plugin"}]}`), 0o644)
	before := cnitest.Snapshot(t, cfg.StateDir)
	path := pin(t, newNetNSDir(t), "pod")
	reqs := []cni.NetworkRequest{
		request(t, cfg, "cpdnet1", "eth0", cni.Options{}),
		request(t, cfg, "cpdnet3", "eth1", cni.Options{}),
	}
	_, err := cni.Attach(context.Background(), cfg, podID(t), path, reqs)
	if !errors.Is(err, cni.ErrPluginNotFound) || !strings.Contains(err.Error(), "cpd-no-such-plugin") {
		t.Fatalf("Attach: got %v, want the missing plugin named", err)
	}
	cni.ReleaseNetNS(path)
	before.AssertNoLeak(t, cnitest.Snapshot(t, cfg.StateDir))
	a.AssertNoReservations(t)
}

func TestListAndResolveConfDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := cni.Config{ConfDir: dir, StateDir: t.TempDir()}

	// Empty: compod's own bridge is the default.
	if c, info, err := cni.Resolve(base, ""); err != nil || !info.BuiltIn || c.ConfDir != "" {
		t.Fatalf("empty conf dir: got %+v %+v %v, want compod's own network", c, info, err)
	}

	write("10-a.conflist", `{"cniVersion":"1.0.0","name":"neta","plugins":[{"type":"bridge","bridge":"x"},{"type":"portmap","capabilities":{"portMappings":true}}]}`)
	write("20-b.conf", `{"cniVersion":"1.0.0","name":"netb","type":"macvlan","master":"dummy0"}`)
	write("30-broken.conflist", `{"cniVersion":"1.0.0","name":`)
	write("40-dup.conflist", `{"cniVersion":"1.0.0","name":"neta","plugins":[{"type":"ptp"}]}`)

	l, err := cni.List(base)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range l.Networks {
		names = append(names, n.Name)
	}
	if strings.Join(names, ",") != "neta,netb,compod" {
		t.Errorf("networks %v, want neta, netb and compod's own", names)
	}
	if len(l.Broken) != 2 || !strings.HasSuffix(l.Broken[0].File, "30-broken.conflist") || !strings.Contains(l.Broken[1].Err, "already defined") {
		t.Errorf("broken files: %+v, want 30-broken (parse error) and 40-dup (duplicate)", l.Broken)
	}
	if !l.Networks[0].Has(cni.CapPortMappings) || l.Networks[1].Has(cni.CapPortMappings) {
		t.Errorf("portmap: %+v", l.Networks)
	}
	// Two networks and no default named: a clear error listing them.
	if _, _, err := cni.Resolve(base, ""); err == nil || !strings.Contains(err.Error(), "neta (10-a.conflist)") || !strings.Contains(err.Error(), "30-broken.conflist") {
		t.Errorf("Resolve default of two networks: got %v, want an error listing them and the broken file", err)
	}
	// A named one loads; the broken file does not take it down.
	c, info, err := cni.Resolve(base, "netb")
	if err != nil || c.ConfFile != filepath.Join(dir, "20-b.conf") || info.Plugins[0] != "macvlan" {
		t.Errorf("Resolve netb: %+v %+v %v", c, info, err)
	}
	withDefault := base
	withDefault.DefaultNetwork = "netb"
	if _, info, err := cni.Resolve(withDefault, ""); err != nil || info.Name != "netb" {
		t.Errorf("Resolve default netb: %+v %v", info, err)
	}
	if _, _, err := cni.Resolve(base, "nope"); !errors.Is(err, cni.ErrUnknownNetwork) || !strings.Contains(err.Error(), "netb") {
		t.Errorf("Resolve unknown: got %v, want ErrUnknownNetwork listing the networks", err)
	}
	withDefault.DefaultNetwork = "nope"
	if _, _, err := cni.Resolve(withDefault, ""); err == nil || !strings.Contains(err.Error(), `default network "nope"`) {
		t.Errorf("Resolve with an unknown default: got %v", err)
	}
}
