package runtime_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// Another network of the host inside compod's default subnet (podman's
// `podman network create` hands out 10.89.N.0/24): up refuses the pod on
// the default network, naming the route and what to do, and leaves
// nothing; once that network is gone, the same pod starts.
func TestDefaultSubnetTakenByAnotherNetwork(t *testing.T) {
	h := newHarness(t)
	const a, b = "cpdsubnetA", "cpdsubnetB"
	if out, err := exec.Command("ip", "link", "add", a, "type", "veth", "peer", "name", b).CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v: %s", err, out)
	}
	removed := false
	remove := func() {
		if !removed {
			removed = true
			_ = exec.Command("ip", "link", "del", a).Run()
		}
	}
	t.Cleanup(remove)
	for _, args := range [][]string{{"addr", "add", "10.89.251.1/24", "dev", a}, {"link", "set", a, "up"}, {"link", "set", b, "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	plan := h.compose("subnettaken", fmt.Sprintf("services:\n  app:\n    image: %s\n    command: [\"sleep\", \"3600\"]\n", testenv.BusyboxRef), nil)
	_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{})
	wantErr(t, err, "overlaps the host's route to 10.89.251.0/24 via "+a, "--cni-conf-dir")
	h.assertNoLeak()

	remove()
	h.up(plan)
	h.down("subnettaken")
}
