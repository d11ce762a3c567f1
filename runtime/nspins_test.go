package runtime_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/client"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// nsOf is the namespace of kind a process is in ("ipc:[4026532178]").
func nsOf(t *testing.T, pid uint32, kind string) string {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
	if err != nil {
		t.Fatalf("reading the %s namespace of pid %d: %v", kind, pid, err)
	}
	return link
}

// pinnedNS is the namespace pinned at path, in the form of nsOf.
func pinnedNS(t *testing.T, kind, path string) string {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatalf("the pod's %s namespace pin %s: %v", kind, path, err)
	}
	return fmt.Sprintf("%s:[%d]", kind, st.Ino)
}

func taskPID(t *testing.T, ctx context.Context, c *client.Client, id string) uint32 {
	t.Helper()
	ctr, err := c.LoadContainer(ctx, id)
	if err != nil {
		t.Fatalf("container %s: %v", id, err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		t.Fatalf("task of %s: %v", id, err)
	}
	return task.Pid()
}

// The pod's IPC and UTS namespaces are pinned up front, as its netns is,
// so that the pause container and the services are created at once: the
// pause container and every service without a hostname of its own are in
// the pinned namespaces, the pinned UTS namespace has the pod's hostname
// from the start (a service may start before the pause container), and
// the pins go with the pod — after `down`, and after a launch that failed.
func TestPodNamespacesPinned(t *testing.T) {
	h := newHarness(t)
	plan := h.compose("pins", fmt.Sprintf(`
services:
  a:
    image: %[1]s
    hostname: pinned-host
    command: ["busybox", "sleep", "3600"]
  b:
    image: %[1]s
    command: ["sh", "-c", "echo name=$(busybox hostname); echo probe-done; exec busybox sleep 3600"]
  own:
    image: %[1]s
    hostname: elsewhere
    command: ["busybox", "sleep", "3600"]
`, testenv.BusyboxRef), nil)
	rec := h.up(plan)
	if rec.IPCNSPath == "" || rec.UTSNSPath == "" || rec.NetNSPath == "" {
		t.Fatalf("the pod's record names no namespace pins: ipc %q uts %q net %q", rec.IPCNSPath, rec.UTSNSPath, rec.NetNSPath)
	}
	want := map[string]string{
		"ipc": pinnedNS(t, "ipc", rec.IPCNSPath),
		"uts": pinnedNS(t, "uts", rec.UTSNSPath),
		"net": pinnedNS(t, "net", rec.NetNSPath),
	}
	ids := map[string]string{"pause": "pins_pause", "a": "pins_a", "b": "pins_b", "own": "pins_own"}
	for who, id := range ids {
		pid := taskPID(t, h.ctx, h.client, id)
		for kind, ns := range want {
			got := nsOf(t, pid, kind)
			if who == "own" && kind == "uts" {
				if got == ns {
					t.Errorf("service own sets a hostname of its own but is in the pod's UTS namespace %s", ns)
				}
				continue
			}
			if got != ns {
				t.Errorf("%s is in %s, not in the pod's pinned %s namespace %s", who, got, kind, ns)
			}
		}
	}
	// The pod's hostname is the first service's that sets one.
	if logs := h.logsUntil("pins", "b", "probe-done"); !strings.Contains(logs, "name=pinned-host") {
		t.Errorf("service b does not have the pod's hostname pinned-host:\n%s", logs)
	}
	h.down("pins")
	for _, p := range []string{rec.IPCNSPath, rec.UTSNSPath} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("namespace pin %s is still there after down (%v)", p, err)
		}
	}

	// A launch that fails once the pins exist (a service whose command
	// cannot run) leaves none.
	bad := h.compose("pins-bad", fmt.Sprintf(`
services:
  ok:
    image: %[1]s
    command: ["busybox", "sleep", "3600"]
  broken:
    image: %[1]s
    command: ["/no/such/program"]
`, testenv.BusyboxRef), nil)
	if _, err := h.eng.Up(h.ctx, bad, runtime.UpOptions{}); err == nil {
		h.down("pins-bad")
		t.Fatal("a pod with a service whose command does not exist started")
	} else if !strings.Contains(err.Error(), `service "broken"`) {
		t.Errorf("the failed launch's error does not name the service: %v", err)
	}
	h.assertNoLeak()
}
