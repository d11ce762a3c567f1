package runtime_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/cgroups"
	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// manyServices is a compose file of n services that start at once, and
// extra appended to it.
func manyServices(n int, extra string) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  s%d:\n    image: %s\n    command: [\"sleep\", \"3600\"]\n    stop_grace_period: 1s\n", i, testenv.BusyboxRef)
	}
	b.WriteString(extra)
	return b.String()
}

// One bad service beside eight good ones, all created at once: the launch
// fails with an error naming the service, the field and the user; the
// other services, whose creation was under way, leave nothing behind (no
// container, snapshot, lease, netns, cgroup or state); and the same pod
// name can be launched again right away.
func TestFailedLaunchOfManyServicesLeavesNothing(t *testing.T) {
	h := newHarness(t)
	pod := "ninesvc"
	for round := 1; round <= 3; round++ {
		plan := h.compose(pod, manyServices(8, fmt.Sprintf(`  bad:
    image: %s
    command: ["sleep", "3600"]
    user: nosuchuser
`, testenv.BusyboxRef)), nil)
		_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{Timeout: time.Minute})
		t.Logf("round %d: up: %v", round, err)
		wantErr(t, err, `service "bad"`, `field "user"`, `"nosuchuser"`)
		h.assertNoLeak()
		if t.Failed() {
			t.Fatalf("round %d left things behind", round)
		}
	}
	h.up(h.compose(pod, manyServices(8, ""), nil))
	h.assertRunning(pod)
	h.down(pod)
}

// A failed launch whose undoing fails (here: a process that is not
// compod's sits in the pod's cgroup, so the cgroup cannot be removed)
// keeps the pod's record and says so, so that `down` can finish the job
// once the obstacle is gone; down then leaves nothing.
func TestFailedRollbackKeepsRecord(t *testing.T) {
	h := newHarness(t)
	pod := "keeprec"
	hs, err := cgroups.Hierarchies()
	if err != nil || len(hs) == 0 {
		t.Fatalf("cgroup hierarchies: %v %v", hs, err)
	}
	hy := hs[0]
	for _, x := range hs {
		if filepath.Base(x.Mount) == "pids" {
			hy = x
		}
	}
	straggler := filepath.Join(hy.Mount, testCgroupParent, h.eng.Instance()+"-"+pod, "straggler")
	if err := os.MkdirAll(straggler, 0o755); err != nil {
		t.Fatal(err)
	}
	sleeper := exec.Command("sleep", "600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	stopSleeper := func() {
		sleeper.Process.Kill()
		sleeper.Wait()
	}
	t.Cleanup(func() {
		stopSleeper()
		os.Remove(straggler)
		os.Remove(filepath.Dir(straggler))
	})
	if err := os.WriteFile(filepath.Join(straggler, "cgroup.procs"), []byte(strconv.Itoa(sleeper.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}

	plan := h.compose(pod, fmt.Sprintf(`
services:
  app:
    image: %[1]s
    command: ["sleep", "3600"]
  bad:
    image: %[1]s
    command: ["sleep", "3600"]
    user: nosuchuser
`, testenv.BusyboxRef), nil)
	_, err = h.eng.Up(h.ctx, plan, runtime.UpOptions{Timeout: time.Minute})
	t.Logf("up: %v", err)
	wantErr(t, err, `service "bad"`, `field "user"`, "record is kept", "compod down -p "+pod, "straggler")
	if _, err := h.eng.Status(h.ctx, pod); err != nil {
		t.Fatalf("the record of a launch that could not be undone is gone: %v", err)
	}
	stopSleeper()
	if err := os.Remove(straggler); err != nil {
		t.Fatal(err)
	}
	h.down(pod)
}
