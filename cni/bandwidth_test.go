package cni_test

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/compod/compod/cni"
	"github.com/compod/compod/cni/cnitest"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]uint64{"1000000": 1e6, "500k": 5e5, "10mbit": 1e7, "10M": 1e7, "1g": 1e9, " 2gbit ": 2e9} {
		if got, err := cni.ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "fast", "10mb/s", "-5k", "1.5m", "99999999999999999999g"} {
		if _, err := cni.ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q): want an error", in)
		}
	}
}

// ifbDevices lists the host's ifb devices (the bandwidth plugin's, for
// the pods' egress).
func ifbDevices(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "link", "show", "type", "ifb").Output()
	if err != nil {
		t.Fatalf("ip link show type ifb: %v", err)
	}
	var devs []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			devs = append(devs, strings.TrimSuffix(f[1], ":"))
		}
	}
	return devs
}

// A network with the bandwidth plugin limits the pod's traffic to the
// rates asked for: a tbf qdisc on the host end of its veth (what the pod
// receives) and one on an ifb device (what it sends); DEL removes both.
func TestBandwidthLimits(t *testing.T) {
	requireRoot(t)
	requirePlugins(t)
	if _, err := os.Stat("/usr/lib/cni/bandwidth"); err != nil {
		t.Skip("CNI plugin bandwidth missing")
	}
	confDir, ipam := t.TempDir(), t.TempDir()
	n := cnitest.BridgeNetwork{Name: "cpdbwnet", Bridge: "cpdbwnet", Subnet: "10.197.32.0/24", IPAMDir: ipam, Bandwidth: true}
	n.Write(t, confDir)
	cfg := cni.Config{ConfDir: confDir, BinDirs: testBinDirs, StateDir: newStateDir(t), DefaultNetwork: n.Name}
	if _, info, err := cni.Resolve(cfg, n.Name); err != nil || !info.Has(cni.CapBandwidth) {
		t.Fatalf("Resolve: %+v %v, want the bandwidth capability", info, err)
	}
	before := cnitest.Snapshot(t, cfg.StateDir)
	ifbsBefore := ifbDevices(t)
	id := podID(t)
	path := pin(t, newNetNSDir(t), "pod")
	reqs := []cni.NetworkRequest{request(t, cfg, n.Name, "eth0", cni.Options{Bandwidth: cni.BandwidthFor(10_000_000, 4_000_000)})}
	if _, err := cni.Attach(context.Background(), cfg, id, path, reqs); err != nil {
		t.Fatalf("Attach: %v", err)
	}
	out, err := exec.Command("ip", "-o", "link", "show", "master", n.Bridge).Output()
	if err != nil {
		t.Fatalf("ip link show master %s: %v", n.Bridge, err)
	}
	var veth string
	if f := strings.Fields(string(out)); len(f) > 1 {
		veth, _, _ = strings.Cut(f[1], "@")
	}
	if veth == "" {
		t.Fatalf("no veth on bridge %s: %s", n.Bridge, out)
	}
	qdisc := func(dev string) string {
		out, err := exec.Command("tc", "qdisc", "show", "dev", dev).CombinedOutput()
		if err != nil {
			t.Fatalf("tc qdisc show dev %s: %v: %s", dev, err, out)
		}
		return string(out)
	}
	if q := qdisc(veth); !strings.Contains(q, "tbf") || !strings.Contains(q, "rate 10Mbit") {
		t.Errorf("the pod's ingress (host veth %s): qdiscs %q, want a tbf at rate 10Mbit", veth, q)
	}
	var ifb []string
	for _, d := range ifbDevices(t) {
		if !slices.Contains(ifbsBefore, d) {
			ifb = append(ifb, d)
		}
	}
	if len(ifb) != 1 {
		t.Fatalf("new ifb devices %v, want one for the pod's egress", ifb)
	}
	if q := qdisc(ifb[0]); !strings.Contains(q, "tbf") || !strings.Contains(q, "rate 4Mbit") {
		t.Errorf("the pod's egress (ifb %s): qdiscs %q, want a tbf at rate 4Mbit", ifb[0], q)
	}

	if err := cni.Detach(context.Background(), cfg, id, path, reqs); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	if err := cni.ReleaseNetNS(path); err != nil {
		t.Fatal(err)
	}
	before.AssertNoLeak(t, cnitest.Snapshot(t, cfg.StateDir))
	n.AssertNoReservations(t)
	if _, err := os.Stat("/sys/class/net/" + ifb[0]); err == nil {
		t.Errorf("ifb %s is left after Detach", ifb[0])
	}
}
