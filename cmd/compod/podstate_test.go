package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// ps returns the pod as `compod ps -p POD --format json` shows it.
func (c *cli) ps(pod string) runtime.PodStatus {
	c.t.Helper()
	out, errOut, code := c.run("ps", "-p", pod, "--format", "json")
	var pods []runtime.PodStatus
	if code != 0 || json.Unmarshal([]byte(out), &pods) != nil || len(pods) != 1 {
		c.t.Fatalf("ps -p %s: exit %d: %s %s", pod, code, out, errOut)
	}
	return pods[0]
}

// waitPs polls `compod ps` until cond holds.
func (c *cli) waitPs(pod string, timeout time.Duration, what string, cond func(runtime.PodStatus) bool) runtime.PodStatus {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := c.ps(pod)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s; ps: %+v", timeout, what, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (c *cli) supervisorPID(pod string) int {
	// "<pid> <start time>" (docs/state-dir.md).
	b, _ := os.ReadFile(filepath.Join(c.stateDir, "pods", pod, "supervisor.pid"))
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	pid, _ := strconv.Atoi(f[0])
	return pid
}

// After `up -d`, a service that turns unhealthy (kill policy, the
// default) fails the pod: the detached supervisor stops it, and `ps` says
// failed, with the reason.
func TestUpDetachedUnhealthyIsStoppedAndFailed(t *testing.T) {
	c := newCLI(t)
	pod := "podstate-unhealthy"
	c.write("compose.yaml", fmt.Sprintf(`
services:
  app:
    image: %[1]s
    command: ["sh", "-c", "touch /tmp/ok; sleep 2; rm /tmp/ok; exec sleep 3600"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 300ms
      timeout: 2s
      retries: 3
  other:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_grace_period: 1s
`, testenv.BusyboxRef))
	c.upDetached(pod)
	st := c.waitPs(pod, 30*time.Second, "the pod to fail and be stopped", func(st runtime.PodStatus) bool {
		if st.State != runtime.PhaseFailed {
			return false
		}
		for _, s := range st.Services {
			if s.State != runtime.StateExited {
				return false
			}
		}
		return true
	})
	if st.Reason != runtime.ReasonUnhealthy || !strings.Contains(st.Message, `service "app" is unhealthy`) {
		t.Errorf("ps: reason %q message %q, want unhealthy naming app", st.Reason, st.Message)
	}
	// The supervisor keeps the stopped pod (and its owner lock) until down.
	if pid := c.supervisorPID(pod); pid == 0 || !processAlive(strconv.Itoa(pid)) {
		t.Errorf("the supervisor (pid %d) is gone after stopping the failed pod", pid)
	}
}

// A supervisor killed with SIGKILL leaves a running pod whose restart
// policy no longer works: `ps` says unsupervised; `compod supervise -p`
// re-attaches one, and a later exit is restarted per policy.
func TestSupervisorKilledThenReattached(t *testing.T) {
	c := newCLI(t)
	pod := "podstate-reattach"
	c.write("compose.yaml", fmt.Sprintf(`
services:
  worker:
    image: %[1]s
    command: ["sh", "-c", "echo run; exec sleep 3600"]
    restart: on-failure
    stop_grace_period: 1s
  steady:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_grace_period: 1s
`, testenv.BusyboxRef))
	c.upDetached(pod)
	if st := c.ps(pod); st.State != runtime.PhaseRunning {
		t.Fatalf("after up -d: ps %+v, want running", st)
	}
	old := c.supervisorPID(pod)
	if old == 0 {
		t.Fatal("up -d recorded no supervisor")
	}
	syscall.Kill(old, syscall.SIGKILL)
	poll(t, 10*time.Second, "the supervisor to die", func() bool { return !processAlive(strconv.Itoa(old)) })

	st := c.ps(pod)
	if st.State != runtime.PhaseUnsupervised || !strings.Contains(st.Message, "compod supervise -p "+pod) {
		t.Fatalf("ps after the supervisor was killed: %+v, want unsupervised with what to do", st)
	}

	out, errOut, code := c.run("supervise", "-p", pod)
	if code != 0 {
		t.Fatalf("supervise -p exited %d: %s %s", code, out, errOut)
	}
	pid := c.supervisorPID(pod)
	if pid == 0 || pid == old || !processAlive(strconv.Itoa(pid)) {
		t.Fatalf("supervise -p: recorded supervisor %d (old %d) is not a live new one", pid, old)
	}
	if st := c.ps(pod); st.State != runtime.PhaseRunning {
		t.Errorf("ps after supervise -p: %+v, want running", st)
	}
	// A second one is refused while this one lives.
	if _, errOut, code := c.run("supervise", "-p", pod); code == 0 || !strings.Contains(errOut, "live supervisor") {
		t.Errorf("a second supervise -p: exit %d, %q; want refused naming the live supervisor", code, errOut)
	}

	// The worker exits (killed): the re-attached supervisor restarts it.
	cl, ctx := testenv.Client(t), testenv.Context(t)
	ctr, err := cl.LoadContainer(ctx, pod+"_worker")
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st = c.waitPs(pod, 20*time.Second, "worker restarted", func(st runtime.PodStatus) bool {
		for _, s := range st.Services {
			if s.Name == "worker" {
				return s.Restarts == 1 && s.State == runtime.StateRunning
			}
		}
		return false
	})
	if st.State != runtime.PhaseRunning {
		t.Errorf("ps after the restart: %+v, want running", st)
	}
	if logs, _, _ := c.run("logs", "-p", pod, "worker"); strings.Count(logs, "run") != 2 {
		t.Errorf("worker ran %d times, want 2: %q", strings.Count(logs, "run"), logs)
	}
}

// upDetached runs `up -d` of the compose.yaml written, and at the end of
// the test `down` and the leak check.
func (c *cli) upDetached(pod string) {
	c.t.Helper()
	t := c.t
	before := c.host()
	if _, errOut, code := c.run("up", "-d", "-p", pod); code != 0 {
		t.Fatalf("up -d exited %d: %s", code, errOut)
	}
	t.Cleanup(func() {
		if _, e, code := c.run("down", "-p", pod, "-t", "1"); code != 0 {
			t.Errorf("down exited %d: %s", code, e)
		}
		c.assertNoLeak(before, pod)
	})
}
