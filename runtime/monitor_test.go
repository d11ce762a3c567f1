package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// nextState waits for a pod state that satisfies cond.
func nextState(t testing.TB, states <-chan runtime.PodState, timeout time.Duration, what string, cond func(runtime.PodState) bool) runtime.PodState {
	t.Helper()
	deadline := time.After(timeout)
	var last runtime.PodState
	for {
		select {
		case st, ok := <-states:
			if !ok {
				t.Fatalf("watch ended while waiting for %s; last state %+v", what, last)
			}
			last = st
			if cond(st) {
				return st
			}
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s; last state %+v", timeout, what, last)
		}
	}
}

func (h *harness) watch(pod string) <-chan runtime.PodState {
	h.t.Helper()
	ctx, cancel := context.WithCancel(h.ctx)
	h.t.Cleanup(cancel)
	states, err := h.eng.Watch(ctx, pod)
	if err != nil {
		h.t.Fatal(err)
	}
	return states
}

func TestOOMFailsPodWithMemoryReason(t *testing.T) {
	h := newHarness(t)
	pod := "oom"
	h.up(h.compose(pod, fmt.Sprintf(`
services:
  hog:
    image: %s
    command: ["-alloc-mb", "256", "-listen", ":8080"]
    mem_limit: 32m
`, testenv.TestappRef), nil))
	defer h.down(pod)
	st := nextState(t, h.watch(pod), 30*time.Second, "failed", func(s runtime.PodState) bool { return s.Phase == runtime.PhaseFailed })
	if st.Reason != runtime.ReasonOOM || st.Service != "hog" {
		t.Errorf("state %+v, want failed by OOM of hog", st)
	}
	if !strings.Contains(st.Message, "memory limit") {
		t.Errorf("message %q does not name the memory limit", st.Message)
	}
}

// A healthcheck that starts failing makes the service unhealthy after
// retries × interval; with the kill policy the pod fails.
func TestUnhealthyKillsPod(t *testing.T) {
	h := newHarness(t)
	pod := "unhealthy"
	h.up(h.compose(pod, unhealthyCompose, nil))
	defer h.down(pod)
	states := h.watch(pod)
	healthy := nextState(t, states, 15*time.Second, "healthy", func(s runtime.PodState) bool { return s.Health["app"] == runtime.HealthHealthy })
	st := nextState(t, states, 15*time.Second, "failed", func(s runtime.PodState) bool { return s.Phase == runtime.PhaseFailed })
	if st.Reason != runtime.ReasonUnhealthy || st.Service != "app" {
		t.Errorf("state %+v, want failed as unhealthy", st)
	}
	// The file goes at ~2s; 3 failed probes 300ms apart.
	if took := st.Time.Sub(healthy.Time); took < 600*time.Millisecond {
		t.Errorf("unhealthy %v after healthy: sooner than retries × interval allows", took)
	}
	ps, err := h.eng.Status(h.ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if ps.Services[0].Health != runtime.HealthUnhealthy {
		t.Errorf("ps shows health %q, want unhealthy", ps.Services[0].Health)
	}
	// Every recorded probe says when it started and ended (as docker's
	// health log does).
	var mon struct {
		Health map[string]runtime.ServiceHealth `json:"health"`
	}
	data, err := os.ReadFile(filepath.Join(h.stateDir, "pods", pod, "monitor.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &mon); err != nil {
		t.Fatal(err)
	}
	results := mon.Health["app"].Log
	if len(results) == 0 {
		t.Fatal("no health results recorded")
	}
	for _, r := range results {
		if r.Start.IsZero() || r.End.Before(r.Start) {
			t.Errorf("health result with start %v, end %v", r.Start, r.End)
		}
	}
}

const unhealthyCompose = `
services:
  app:
    image: compod.test/busybox:1
    command: ["sh", "-c", "touch /tmp/ok; sleep 2; rm /tmp/ok; exec sleep 3600"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 300ms
      timeout: 2s
      retries: 3
`

func TestUnhealthyReportOnly(t *testing.T) {
	h := newHarness(t, runtime.WithUnhealthyPolicy(runtime.UnhealthyReport))
	pod := "unhealthyreport"
	h.up(h.compose(pod, unhealthyCompose, nil))
	defer h.down(pod)
	st := nextState(t, h.watch(pod), 20*time.Second, "unhealthy", func(s runtime.PodState) bool { return s.Health["app"] == runtime.HealthUnhealthy })
	if st.Phase != runtime.PhaseRunning {
		t.Errorf("state %+v: report mode must keep the pod running", st)
	}
}

// service_healthy really waits: the dependent sees the file that the
// dependency writes just before it turns healthy.
func TestDependsOnServiceHealthy(t *testing.T) {
	h := newHarness(t)
	pod := "dephealthy"
	start := time.Now()
	h.up(h.compose(pod, `
services:
  db:
    image: compod.test/busybox:1
    command: ["sh", "-c", "sleep 1.5; touch /shared/ready; exec sleep 3600"]
    volumes: ["shared:/shared"]
    healthcheck:
      test: ["CMD", "test", "-f", "/shared/ready"]
      interval: 200ms
      start_period: 10s
      start_interval: 200ms
      retries: 3
  app:
    image: compod.test/busybox:1
    command: ["sh", "-c", "if [ -f /shared/ready ]; then echo saw-ready; else echo too-early; fi; exec sleep 3600"]
    volumes: ["shared:/shared"]
    depends_on:
      db:
        condition: service_healthy
volumes:
  shared: {}
`, nil))
	defer h.down(pod)
	if took := time.Since(start); took < 1500*time.Millisecond {
		t.Errorf("up returned after %v, before the dependency could be healthy", took)
	}
	waitFor(t, 10*time.Second, "app output", func() (bool, string) {
		out := h.logsOf(pod, "app")
		return strings.Contains(out, "saw-ready") || strings.Contains(out, "too-early"), out
	})
	if out := h.logsOf(pod, "app"); !strings.Contains(out, "saw-ready") {
		t.Errorf("app started before db was healthy: %q", out)
	}
}

func TestDependsOnUnhealthyFailsLaunch(t *testing.T) {
	h := newHarness(t)
	plan := h.compose("depunhealthy", `
services:
  db:
    image: compod.test/busybox:1
    command: ["sleep", "3600"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 100ms
      retries: 2
  app:
    image: compod.test/busybox:1
    command: ["sleep", "3600"]
    depends_on:
      db:
        condition: service_healthy
`, nil)
	_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{Timeout: 30 * time.Second})
	wantErr(t, err, `service "app"`, "depends_on", `"db"`, "unhealthy")
	h.assertNoLeak()
}

func TestRestartOnFailureThenFail(t *testing.T) {
	h := newHarness(t)
	pod := "restarts"
	h.up(h.compose(pod, `
services:
  flaky:
    image: compod.test/busybox:1
    command: ["sh", "-c", "echo attempt; sleep 0.2; exit 1"]
    restart: on-failure:2
  steady:
    image: compod.test/busybox:1
    command: ["sleep", "3600"]
`, nil))
	defer h.down(pod)
	st := nextState(t, h.watch(pod), 30*time.Second, "failed", func(s runtime.PodState) bool { return s.Phase == runtime.PhaseFailed })
	if st.Service != "flaky" || st.ExitCode != 1 || st.Restarts["flaky"] != 2 {
		t.Errorf("state %+v, want flaky failed with code 1 after 2 restarts", st)
	}
	if n := strings.Count(h.logsOf(pod, "flaky"), "attempt"); n != 3 {
		t.Errorf("flaky ran %d times, want 3 (1 + 2 restarts)", n)
	}
	ps, _ := h.eng.Status(h.ctx, pod)
	for _, s := range ps.Services {
		if s.Name == "flaky" && s.Restarts != 2 {
			t.Errorf("ps shows %d restarts, want 2", s.Restarts)
		}
	}
}

// containerd stops and starts while the pod runs: the pod keeps running, an
// exit during the outage is reported after containerd returns, and a later
// exit is reported too.
func TestMonitorSurvivesContainerdRestart(t *testing.T) {
	h := newHarness(t)
	pod := "ctrdrestart"
	h.up(h.compose(pod, `
services:
  steady:
    image: compod.test/busybox:1
    command: ["sleep", "3600"]
  early:
    image: compod.test/busybox:1
    command: ["sh", "-c", "sleep 2; exit 0"]
  late:
    image: compod.test/busybox:1
    command: ["sh", "-c", "sleep 9; exit 3"]
`, nil))
	defer h.down(pod)
	states := h.watch(pod)
	nextState(t, states, 5*time.Second, "running", func(s runtime.PodState) bool { return s.Phase == runtime.PhaseRunning })

	containerdCtl(t, "stop")
	time.Sleep(3 * time.Second) // "early" exits while containerd is down
	containerdCtl(t, "start")

	st := nextState(t, states, 20*time.Second, "early's exit", func(s runtime.PodState) bool { _, ok := s.Exits["early"]; return ok })
	if st.Phase != runtime.PhaseRunning || st.Exits["early"] != 0 {
		t.Errorf("after the outage: %+v, want running with early exited 0", st)
	}
	// Checked before late fails: the failure policy then stops the pod.
	ps, _ := h.eng.Status(h.ctx, pod)
	for _, s := range ps.Services {
		if s.Name == "steady" && s.State != runtime.StateRunning {
			t.Errorf("steady is %s after the containerd restart, want running", s.State)
		}
	}
	st = nextState(t, states, 20*time.Second, "late's exit", func(s runtime.PodState) bool { return s.Phase == runtime.PhaseFailed })
	if st.Service != "late" || st.ExitCode != 3 {
		t.Errorf("state %+v, want failed by late with code 3", st)
	}
}

func containerdCtl(t *testing.T, action string) {
	t.Helper()
	out, err := exec.Command("../hack/containerd.sh", action).CombinedOutput()
	if err != nil {
		t.Fatalf("hack/containerd.sh %s: %v\n%s", action, err, out)
	}
}

// A service whose task vanished while no compod watched (here: removed
// behind compod's back after the launching process went away) is reported
// lost by the next watcher, instead of the pod staying "running" forever.
func TestVanishedTaskIsLost(t *testing.T) {
	h := newHarness(t)
	pod := "vanished"
	plan := h.compose(pod, `
services:
  keeper:
    image: compod.test/busybox:1
    command: ["sleep", "3600"]
  victim:
    image: compod.test/busybox:1
    command: ["sleep", "3600"]
`, nil)
	launcher := h.newEngine()
	if _, err := launcher.Up(h.ctx, plan, runtime.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	defer h.down(pod)
	launcher.Close() // the launching compod goes away; the pod runs on

	ctr, err := h.client.LoadContainer(h.ctx, pod+"_victim")
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.Task(h.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := task.Delete(h.ctx, client.WithProcessKill); err != nil {
		t.Fatal(err)
	}

	st := nextState(t, h.watch(pod), 10*time.Second, "failed", func(s runtime.PodState) bool { return s.Phase == runtime.PhaseFailed })
	if st.Reason != runtime.ReasonLost || st.Service != "victim" {
		t.Errorf("state %+v, want victim lost", st)
	}
}
