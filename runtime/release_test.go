package runtime_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/compod/compod/cni/cnitest"
	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// Down with a Released callback frees what the next pod may need — the IP
// and the host port — before it removes the rest: when the callback runs,
// the pod's IP reservation, netns pin and host port claim are gone while
// its containers are still there; when Down returns, nothing is left.
func TestDownReleasedBeforeRemoval(t *testing.T) {
	h := newHarness(t)
	port := freeLoopbackPort(t)
	plan := h.compose("perf-released", fmt.Sprintf(`
services:
  app:
    image: %s
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do busybox sleep 0.1; done"]
    ports: ["127.0.0.1:%d:8080"]
  side:
    image: %s
    command: ["sleep", "3600"]
`, testenv.BusyboxRef, port, testenv.BusyboxRef), nil)
	rec := h.up(plan)
	if rec.IP == "" || len(rec.Ports) != 1 {
		t.Fatalf("pod record: ip %q ports %v", rec.IP, rec.Ports)
	}
	var (
		calls      int
		claims     []string
		ipamLeft   []string
		netnsLeft  bool
		containers int
	)
	grace := time.Second
	err := h.eng.Down(h.ctx, "perf-released", runtime.DownOptions{Timeout: &grace, Released: func() {
		calls++
		ents, _ := os.ReadDir(h.ports)
		for _, e := range ents {
			if e.Name()[0] != '.' {
				claims = append(claims, e.Name())
			}
		}
		for _, f := range cnitest.Snapshot(t, h.stateDir).IPAM {
			if filepath.Base(f) == rec.IP {
				ipamLeft = append(ipamLeft, f)
			}
		}
		_, err := os.Stat(rec.NetNSPath)
		netnsLeft = err == nil
		ctrs, err := h.client.Containers(h.ctx, fmt.Sprintf("labels.%q==%s", runtime.LabelPod, "perf-released"))
		if err != nil {
			t.Errorf("listing the pod's containers: %v", err)
		}
		containers = len(ctrs)
	}})
	if err != nil {
		t.Fatalf("down: %v", err)
	}
	if calls != 1 {
		t.Fatalf("Released called %d times, want once", calls)
	}
	if len(claims) > 0 {
		t.Errorf("host port claims still held when Released was called: %v", claims)
	}
	if len(ipamLeft) > 0 {
		t.Errorf("the pod's IP %s still reserved when Released was called: %v", rec.IP, ipamLeft)
	}
	if netnsLeft {
		t.Errorf("netns pin %s still there when Released was called", rec.NetNSPath)
	}
	if containers == 0 {
		t.Errorf("no container of the pod left when Released was called: the removal did not follow the release")
	}
	h.assertNoLeak()
}
