package runtime_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/compod/compod/cni"
	"github.com/compod/compod/cni/cnitest"
	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// A compose service's compod.bandwidth.* labels limit the pod on its
// network with the bandwidth plugin; the launch's labels (a Mesos task's)
// win over them. The limits show as tbf qdiscs at those rates.
func TestPodBandwidthLabels(t *testing.T) {
	confDir, ipam := t.TempDir(), t.TempDir()
	n := cnitest.BridgeNetwork{Name: "cpdbwrt", Bridge: "cpdbwrt", Subnet: "10.197.33.0/24", IPAMDir: ipam, Bandwidth: true}
	n.Write(t, confDir)
	h := newHarness(t, runtime.WithCNI(cni.Config{ConfDir: confDir, BinDirs: testBinDirs, DefaultNetwork: n.Name}))
	plan := h.compose("netextras-bw", fmt.Sprintf(`
services:
  app:
    image: %s
    command: ["sleep", "3600"]
    labels:
      compod.bandwidth.ingress: 10mbit
      compod.bandwidth.egress: 2mbit
`, testenv.BusyboxRef), nil)
	rec, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{Labels: map[string]string{runtime.LabelBandwidthEgress: "4m"}})
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	downed := false
	t.Cleanup(func() {
		if !downed {
			h.down("netextras-bw")
		}
	})
	bw := rec.Networks[0].Request.Options.Bandwidth
	if bw == nil || bw.IngressRate != 10_000_000 || bw.EgressRate != 4_000_000 {
		t.Fatalf("bandwidth asked of CNI: %+v, want ingress 10 Mbit/s (the service's label) and egress 4 Mbit/s (the launch's)", bw)
	}
	out, err := exec.Command("ip", "-o", "link", "show", "master", n.Bridge).Output()
	if err != nil {
		t.Fatalf("ip link show master %s: %v", n.Bridge, err)
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		t.Fatalf("no veth on bridge %s", n.Bridge)
	}
	veth, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
	if q, err := exec.Command("tc", "qdisc", "show", "dev", veth).CombinedOutput(); err != nil || !strings.Contains(string(q), "rate 10Mbit") {
		t.Errorf("tc qdisc show dev %s: %v: %s; want a tbf at 10Mbit", veth, err, q)
	}
	h.down("netextras-bw")
	downed = true
	n.AssertNoReservations(t)
}

// A pod with a bandwidth label on networks without the bandwidth plugin,
// or with a rate that does not parse, is refused before anything is made.
func TestPodBandwidthErrors(t *testing.T) {
	cfg, _, _ := twoNetworks(t)
	h := newHarness(t, runtime.WithCNI(cfg))
	for _, tc := range []struct{ name, labels, want string }{
		{"no plugin", `compod.bandwidth.ingress: 10mbit`, `compod.bandwidth.ingress=10mbit (service app): the pod's CNI network cpdnet1 cannot limit bandwidth`},
		{"bad rate", `compod.bandwidth.egress: fast`, `label compod.bandwidth.egress (service app): rate "fast"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := h.compose("netextras-bwerr", fmt.Sprintf(`
services:
  app: {image: %s, command: ["sleep", "3600"], labels: {%s}}
`, testenv.BusyboxRef, tc.labels), nil)
			_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("up: got %v, want an error containing %q", err, tc.want)
			}
			h.assertNoLeak()
		})
	}
}
