package runtime_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// The host helper (hosthelper.go) is what an executor in a mount or PID
// namespace of its own uses; forced on here, the pod must behave exactly
// as with compod doing the work itself: it serves on its published port,
// a taken port is refused against the right service, and nothing is left.
func TestHostHelperPod(t *testing.T) {
	h := newHarness(t, runtime.WithHostHelper(runtime.HostHelperAlways))
	port := freeLoopbackPort(t)
	plan := h.compose("helper", fmt.Sprintf(`
services:
  web:
    image: %s
    command: ["-listen", ":8080"]
    ports: ["127.0.0.1:%d:8080"]
`, testenv.TestappRef, port), nil)
	rec := h.up(plan)
	if rec.IP == "" || rec.NetNSPath == "" {
		t.Fatalf("record: ip %q netns %q", rec.IP, rec.NetNSPath)
	}
	waitFor(t, 10*time.Second, "the published port to serve", func() (bool, string) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "hello from testapp"), string(b)
	})
	h.down("helper")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	plan = h.compose("helpertaken", fmt.Sprintf(`
services:
  web:
    image: %s
    command: ["-listen", ":8080"]
    ports: ["127.0.0.1:%d:8080"]
`, testenv.TestappRef, taken), nil)
	_, err = h.eng.Up(h.ctx, plan, runtime.UpOptions{})
	wantErr(t, err, `service "web"`, `"ports"`, fmt.Sprint(taken), "already in use")
	h.assertNoLeak()
}

// A launch that fails after the host helper attached the pod's network
// rolls the network back too, through the helper: the rollback runs with a
// context of its own, which must still name the containerd namespace.
func TestHostHelperFailedLaunchRollsBack(t *testing.T) {
	h := newHarness(t, runtime.WithHostHelper(runtime.HostHelperAlways))
	plan := h.compose("helperbadcmd", fmt.Sprintf(`
services:
  broken:
    image: %s
    entrypoint: ["/no/such/binary"]
    ports: ["127.0.0.1:%d:8080"]
`, testenv.BusyboxRef, freeLoopbackPort(t)), nil)
	_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{})
	wantErr(t, err, `service "broken"`)
	h.assertNoLeak()
}

// A pod launched with an owner is held by the owning engine's lock: another
// engine can neither remove it nor reclaim it while the owner lives; once
// the owner is gone (its engine closed here, its process dead in real
// life), Reclaim removes it, and only pods whose owner matches.
func TestReclaimOwnerlessPods(t *testing.T) {
	h := newHarness(t)
	owner := h.newEngine()
	plan := h.compose("owned", fmt.Sprintf(`
services:
  app:
    image: %s
    command: ["sleep", "3600"]
`, testenv.BusyboxRef), nil)
	if _, err := owner.Up(h.ctx, plan, runtime.UpOptions{Owner: map[string]string{"kind": "test"}}); err != nil {
		t.Fatal(err)
	}
	isTest := func(o map[string]string) bool { return o["kind"] == "test" }

	other := h.newEngine()
	if pods, err := other.Reclaim(h.ctx, isTest); err != nil || len(pods) > 0 {
		t.Fatalf("reclaim of a live owner's pod: %v %v", pods, err)
	}
	err := other.Down(h.ctx, "owned", runtime.DownOptions{})
	wantErr(t, err, "owned", "held by its owner")
	if _, err := other.Up(h.ctx, plan, runtime.UpOptions{Owner: map[string]string{"kind": "test"}}); err == nil {
		t.Fatal("a second owner launched the same pod")
	}

	owner.Close() // the owner's process goes: its lock with it
	if pods, err := other.Reclaim(h.ctx, func(map[string]string) bool { return false }); err != nil || len(pods) > 0 {
		t.Fatalf("reclaim of a pod whose owner does not match: %v %v", pods, err)
	}
	pods, err := other.Reclaim(h.ctx, isTest)
	if err != nil || len(pods) != 1 || pods[0] != "owned" {
		t.Fatalf("reclaim: %v %v", pods, err)
	}
	h.assertNoLeak()
}
