package executor

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"

	"github.com/compod/compod/internal/agentsim"
	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

func labelValue(st mesos.TaskStatus, key string) string {
	if st.Labels == nil {
		return ""
	}
	for _, l := range st.Labels.Labels {
		if l.Key == key && l.Value != nil {
			return *l.Value
		}
	}
	return ""
}

func TestLaunchRunningKill(t *testing.T) {
	h := newHarness(t, nil)
	h.launch(h.taskInfo("web.1", map[string]string{"docker-compose.yml": "services: {}"}, [2]uint64{31000, 31002}))
	st := h.waitState("web.1", mesos.TASK_STARTING)
	if st.GetSource() != mesos.SOURCE_EXECUTOR || len(st.UUID) != 16 {
		t.Fatalf("STARTING: source %v uuid %x", st.GetSource(), st.UUID)
	}
	run := h.waitState("web.1", mesos.TASK_RUNNING)
	if got := labelValue(run, "compod.port.web.80/tcp"); got != "31000" {
		t.Errorf("port label web 80: %q", got)
	}
	if got := labelValue(run, "compod.port.web.443/tcp"); got != "31001" {
		t.Errorf("port label web 443: %q", got)
	}
	if ni := run.GetContainerStatus().GetNetworkInfos(); len(ni) != 1 || ni[0].IPAddresses[0].GetIPAddress() != "10.88.0.7" {
		t.Errorf("network infos: %+v", ni)
	}
	// Sandbox: plan, ports. (The service logs are the engine's: the e2e
	// tests check them.)
	sb := h.ex.Sandbox()
	for _, f := range []string{PlanFile, PortsFile} {
		if _, err := os.Stat(filepath.Join(sb, f)); err != nil {
			t.Errorf("sandbox: %v", err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(sb, PortsFile)); !strings.Contains(string(b), "31001") {
		t.Errorf("ports.json: %s", b)
	}
	// The executor's own cgroup bounds the pod: no pod-level limits.
	if o := h.eng.opt[0]; o.PodCPUs != 0 || o.PodMemoryBytes != 0 {
		t.Errorf("pod limits set under a Mesos cgroup: %+v", o)
	}
	// Heartbeats have been flowing all along.
	time.Sleep(3 * h.cfg.HeartbeatInterval)
	if n := h.ex.Subscriptions(); n != 1 || !h.ex.Connected() {
		t.Errorf("subscriptions %d, connected %v", n, h.ex.Connected())
	}

	grace := 2 * time.Second
	h.kill("web.1", &grace)
	killed := h.waitState("web.1", mesos.TASK_KILLED)
	if labelValue(killed, "compod.port.web.80/tcp") != "31000" {
		t.Error("terminal update lost the port labels")
	}
	if err := h.waitExit(5 * time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if h.eng.stopT[0] == nil || *h.eng.stopT[0] != 2*time.Second {
		t.Errorf("kill policy grace not passed to Stop: %v", h.eng.stopT[0])
	}
	if _, _, downs := h.eng.counts(); downs != 1 {
		t.Errorf("pod removed %d times", downs)
	}
	exit, err := h.ex.Wait(ctxFor(t, 5*time.Second))
	if err != nil || exit.Forced || len(exit.Unacked) > 0 {
		t.Errorf("exit %+v %v", exit, err)
	}
}

func TestServiceFailure(t *testing.T) {
	h := newHarness(t, nil)
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	run := h.waitState("t", mesos.TASK_RUNNING)
	pod := labelValue(run, "compod.pod")
	h.eng.push(pod, runtime.PodState{Pod: pod, Phase: runtime.PhaseFailed, Service: "db", ExitCode: 3, Reason: runtime.ReasonServiceExit,
		Message: `service "db" exited with code 3`, Exits: map[string]uint32{"db": 3}})
	st := h.waitState("t", mesos.TASK_FAILED)
	if !strings.Contains(st.GetMessage(), `"db"`) || !strings.Contains(st.GetMessage(), "3") || st.GetReason() != mesos.REASON_COMMAND_EXECUTOR_FAILED {
		t.Errorf("FAILED: %q %v", st.GetMessage(), st.GetReason())
	}
	if labelValue(st, "compod.exit.db") != "3" || labelValue(st, "compod.failed.service") != "db" {
		t.Errorf("labels: %v", st.Labels)
	}
	if err := h.waitExit(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, stops, downs := h.eng.counts(); stops != 1 || downs != 1 {
		t.Errorf("stops %d downs %d", stops, downs)
	}
}

func TestOOMAndHealth(t *testing.T) {
	h := newHarness(t, nil)
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	run := h.waitState("t", mesos.TASK_RUNNING)
	pod := labelValue(run, "compod.pod")
	h.eng.push(pod, runtime.PodState{Pod: pod, Phase: runtime.PhaseRunning, Health: map[string]string{"web": "starting"}})
	h.eng.push(pod, runtime.PodState{Pod: pod, Phase: runtime.PhaseRunning, Health: map[string]string{"web": "healthy"}})
	h.waitRecord("healthy update", 5*time.Second, func(r agentsim.StatusRecord) bool {
		return r.Status.Healthy != nil && *r.Status.Healthy && r.Status.GetReason() == mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED
	})
	h.eng.push(pod, runtime.PodState{Pod: pod, Phase: runtime.PhaseFailed, Service: "web", ExitCode: 137, Reason: runtime.ReasonOOM,
		Message: `service "web" was killed: out of memory`})
	st := h.waitState("t", mesos.TASK_FAILED)
	if st.GetReason() != mesos.REASON_CONTAINER_LIMITATION_MEMORY {
		t.Errorf("OOM reason: %v", st.GetReason())
	}
}

func TestBadTaskInfo(t *testing.T) {
	for name, tc := range map[string]struct {
		files map[string]string
		label string
		ports [][2]uint64
		want  []string
	}{
		"no label":        {want: []string{`"fileName"`, `"compod.files"`}},
		"missing file":    {label: "docker-compose.yml", want: []string{`"docker-compose.yml"`, "not in the sandbox", "URIs"}},
		"outside sandbox": {label: "../../../etc/passwd", want: []string{`"../../../etc/passwd"`, `"fileName"`, "not inside the sandbox"}},
		"absolute path":   {label: "/etc/passwd", want: []string{`"/etc/passwd"`, "not inside the sandbox"}},
		"too few ports":   {files: map[string]string{"c.yml": "x"}, ports: [][2]uint64{{31000, 31000}}, want: []string{"2 port(s)", "web 80/tcp", "only 1 host port"}},
		"invalid compose": {files: map[string]string{"c.yml": "invalid"}, ports: [][2]uint64{{31000, 31001}}, want: []string{"c.yml", `field "image"`}},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, nil)
			info := h.taskInfo("bad", tc.files, tc.ports...)
			if tc.label != "" {
				info.Labels = &mesos.Labels{Labels: []mesos.Label{label(LabelFileName, tc.label)}}
			}
			h.launch(info)
			st := h.waitState("bad", mesos.TASK_FAILED)
			for _, w := range tc.want {
				if !strings.Contains(st.GetMessage(), w) {
					t.Errorf("message %q does not say %q", st.GetMessage(), w)
				}
			}
			if st.GetReason() != mesos.REASON_TASK_INVALID {
				t.Errorf("reason %v", st.GetReason())
			}
			if ups, _, _ := h.eng.counts(); ups != 0 {
				t.Error("a pod was launched for a bad task")
			}
			if err := h.waitExit(5 * time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLaunchFailure(t *testing.T) {
	h := newHarness(t, nil)
	h.eng.upErr = errors.New(`pod "x": service "web": image "nope:latest" not found`)
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	st := h.waitState("t", mesos.TASK_FAILED)
	if st.GetReason() != mesos.REASON_CONTAINER_LAUNCH_FAILED || !strings.Contains(st.GetMessage(), "nope:latest") {
		t.Errorf("got %v %q", st.GetReason(), st.GetMessage())
	}
}

func TestKillDuringLaunch(t *testing.T) {
	h := newHarness(t, nil)
	h.eng.upBlock = make(chan struct{})
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	h.waitState("t", mesos.TASK_STARTING)
	time.Sleep(100 * time.Millisecond)
	h.kill("t", nil)
	st := h.waitState("t", mesos.TASK_KILLED)
	if st.GetReason() != mesos.REASON_TASK_KILLED_DURING_LAUNCH {
		t.Errorf("reason %v", st.GetReason())
	}
}

// A master never sends LAUNCH_GROUP to a custom executor (task groups need
// the default executor), so no agent can produce it: the refusal is checked
// on the executor alone.
func TestLaunchGroupRefused(t *testing.T) {
	x, err := New(Options{Env: Env{FrameworkID: "fw", ExecutorID: "ex"}, Engine: newFakeEngine(t), Load: fakeLoad,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.handle(&executor.Event{Type: executor.Event_LAUNCH_GROUP, LaunchGroup: &executor.Event_LaunchGroup{TaskGroup: mesos.TaskGroupInfo{
		Tasks: []mesos.TaskInfo{{TaskID: mesos.TaskID{Value: "g1"}}, {TaskID: mesos.TaskID{Value: "g2"}}}}}}); err != nil {
		t.Fatal(err)
	}
	ups, _ := x.store.pending()
	if len(ups) != 2 {
		t.Fatalf("%d updates", len(ups))
	}
	for i, id := range []string{"g1", "g2"} {
		st := ups[i].Status
		if st.TaskID.Value != id || st.GetState() != mesos.TASK_FAILED || !strings.Contains(st.GetMessage(), "task groups") || st.GetReason() != mesos.REASON_TASK_GROUP_INVALID {
			t.Errorf("%s: %v %v %q", id, st.GetState(), st.GetReason(), st.GetMessage())
		}
	}
	close(x.doneC)
	close(x.offline)
}

func TestShutdown(t *testing.T) {
	h := newHarness(t, nil)
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	h.waitState("t", mesos.TASK_RUNNING)
	start := time.Now()
	if err := h.ex.Shutdown(ctxFor(t, time.Second)); err != nil {
		t.Fatal(err)
	}
	h.waitState("t", mesos.TASK_KILLED)
	if err := h.waitExit(h.env.ShutdownGracePeriod); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > h.env.ShutdownGracePeriod {
		t.Errorf("exit took %v, grace %v", d, h.env.ShutdownGracePeriod)
	}
	if g := h.eng.stopT[0]; g == nil || *g > h.env.ShutdownGracePeriod {
		t.Errorf("stop timeout %v not bounded by the shutdown grace period", g)
	}
	exit, err := h.ex.Wait(ctxFor(t, 5*time.Second))
	if err != nil || exit.Forced || len(exit.Unacked) > 0 {
		t.Errorf("exit %+v %v", exit, err)
	}
}

func TestResubscribeResendsUnacked(t *testing.T) {
	h := newHarness(t, nil)
	h.eng.upBlock = make(chan struct{})
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	// STARTING is acknowledged, RUNNING is not.
	starting := h.waitState("t", mesos.TASK_STARTING)
	if err := h.ex.WaitAcked(ctxFor(t, 5*time.Second), starting.UUID); err != nil {
		t.Fatal(err)
	}
	h.agent.WithholdAcks(true)
	close(h.eng.upBlock)
	run := h.waitState("t", mesos.TASK_RUNNING)
	pod := labelValue(run, "compod.pod")

	if err := h.agent.Restart(ctxFor(t, 5*time.Second), 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	h.agent.WithholdAcks(false)
	h.waitSubscriptions(2, 5*time.Second)
	if err := h.ex.WaitAcked(ctxFor(t, 5*time.Second), run.UUID); err != nil {
		t.Fatal(err)
	}
	var resent []mesos.TaskStatus
	for _, r := range h.ex.Records() {
		if r.Resent {
			resent = append(resent, r.Status)
		}
	}
	if len(resent) != 1 || !bytes.Equal(resent[0].UUID, run.UUID) {
		t.Fatalf("SUBSCRIBE resent %d updates, want RUNNING only", len(resent))
	}
	if !h.eng.isRunning(pod) {
		t.Fatal("the pod was stopped during the agent's restart")
	}
	// Still served after resubscription (and after the recovery window).
	h.kill("t", nil)
	h.waitState("t", mesos.TASK_KILLED)
	if err := h.waitExit(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// A restarted agent answers every call but SUBSCRIBE with 503 until its
// recovery ends: an update sent then must be retried, not left for the
// next subscription.
func TestUpdateRetriedWhileAgentRecovers(t *testing.T) {
	h := newHarness(t, nil, func(c *agentsim.Config) { c.SubscriptionBackoffMax = 1500 * time.Millisecond })
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	run := h.waitState("t", mesos.TASK_RUNNING)
	if err := h.ex.WaitAcked(ctxFor(t, 5*time.Second), run.UUID); err != nil {
		t.Fatal(err)
	}
	pod := labelValue(run, "compod.pod")
	restart := time.Now()
	if err := h.agent.Restart(ctxFor(t, 5*time.Second), 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	h.waitSubscriptions(2, 5*time.Second)
	// Re-subscribed, the agent still recovering: this update gets 503.
	h.eng.push(pod, runtime.PodState{Pod: pod, Phase: runtime.PhaseRunning, Health: map[string]string{"web": "healthy"}})
	r := h.waitRecord("health update after recovery", 5*time.Second, func(r agentsim.StatusRecord) bool {
		return r.Status.Healthy != nil && *r.Status.Healthy
	})
	recoveryEnd := restart.Add(200*time.Millisecond + h.cfg.SubscriptionBackoffMax)
	t.Logf("update received %v after the agent's recovery ended", r.Received.Sub(recoveryEnd))
	if r.Resent || r.Received.Sub(recoveryEnd) > 2*time.Second {
		t.Errorf("update not retried promptly: resent %v, %v after recovery", r.Resent, r.Received.Sub(recoveryEnd))
	}
	if err := h.ex.WaitAcked(ctxFor(t, 5*time.Second), r.Status.UUID); err != nil {
		t.Fatal(err)
	}
}

// Unacknowledged updates are resent periodically; the agent drops the
// duplicates by uuid and acknowledges them.
func TestUnackedResentPeriodically(t *testing.T) {
	old := updateResendInterval
	updateResendInterval = 300 * time.Millisecond
	t.Cleanup(func() { updateResendInterval = old })
	h := newHarness(t, nil)
	h.agent.WithholdAcks(true)
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	run := h.waitState("t", mesos.TASK_RUNNING)
	h.waitRecord("RUNNING resent", 5*time.Second, func(r agentsim.StatusRecord) bool {
		return r.Duplicate && bytes.Equal(r.Status.UUID, run.UUID)
	})
	h.agent.WithholdAcks(false)
	if err := h.ex.WaitAcked(ctxFor(t, 5*time.Second), run.UUID); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if empty, _ := h.x.store.empty(); empty {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("updates still unacknowledged in the executor")
		}
	}
}

// After an agent restart the executor re-subscribes well inside the
// agent's re-registration window (MESOS_SUBSCRIPTION_BACKOFF_MAX), however
// long the agent was down.
func TestResubscribeWithinBackoffMax(t *testing.T) {
	h := newHarness(t, nil)
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	h.waitState("t", mesos.TASK_RUNNING)
	if err := h.agent.Restart(ctxFor(t, 10*time.Second), 3*time.Second); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	h.waitSubscriptions(2, 5*time.Second)
	d := time.Since(back)
	t.Logf("re-subscribed %v after the agent came back (backoff max %v)", d, h.cfg.SubscriptionBackoffMax)
	if d > h.cfg.SubscriptionBackoffMax*3/4 {
		t.Errorf("re-subscribed %v after the agent came back, re-registration window %v", d, h.cfg.SubscriptionBackoffMax)
	}
	time.Sleep(h.cfg.SubscriptionBackoffMax) // the window ends: the executor must be alive
	h.kill("t", nil)
	h.waitState("t", mesos.TASK_KILLED)
	exit, err := h.ex.Wait(ctxFor(t, 10*time.Second))
	if err != nil || exit.Forced {
		t.Errorf("exit %+v %v", exit, err)
	}
}

func TestNoCheckpointDisconnect(t *testing.T) {
	h := newHarness(t, nil, func(c *agentsim.Config) { c.Checkpoint = false })
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	run := h.waitState("t", mesos.TASK_RUNNING)
	go func() { _ = h.agent.Restart(context.Background(), 10*time.Second) }()
	err := h.waitExit(10 * time.Second)
	if err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Fatalf("Run: %v", err)
	}
	if h.eng.isRunning(labelValue(run, "compod.pod")) {
		t.Fatal("pod left running")
	}
	if _, _, downs := h.eng.counts(); downs != 1 {
		t.Fatal("pod not removed")
	}
}

func TestRecoveryTimeout(t *testing.T) {
	h := newHarness(t, nil, func(c *agentsim.Config) { c.RecoveryTimeout = time.Second })
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	h.waitState("t", mesos.TASK_RUNNING)
	start := time.Now()
	go func() { _ = h.agent.Restart(context.Background(), 10*time.Second) }()
	err := h.waitExit(10 * time.Second)
	if !errors.Is(err, errAgentGone) {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d < time.Second || d > 5*time.Second {
		t.Errorf("gave up after %v, recovery timeout 1s", d)
	}
	if _, _, downs := h.eng.counts(); downs != 1 {
		t.Fatal("pod not removed")
	}
}

func TestPosixIsolationLimits(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.CgroupParent = "" })
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	h.waitState("t", mesos.TASK_RUNNING)
	if o := h.eng.opt[0]; o.PodCPUs != 0.5 || o.PodMemoryBytes != 64<<20 {
		t.Errorf("pod limits: %+v", o)
	}
}

func TestPodName(t *testing.T) {
	seen := map[string]bool{}
	for _, id := range []string{
		"web.4f0c7e5a-1234-11ee-8c8f-0242ac120002",
		"WEB.4f0c7e5a-1234-11ee-8c8f-0242ac120002",
		"__x",
		"...",
		"a",
		strings.Repeat("very-long-application-name-", 5),
		"prod/api/web.instance-1_2",
		"web_.1",
		"a__b",
		"app-_x",
		strings.Repeat("x", 30) + "_-_y",
	} {
		n := PodName("fw", id)
		if err := translate.ValidatePodName(n); err != nil {
			t.Errorf("PodName(%q) = %q: %v", id, n, err)
		}
		if seen[n] {
			t.Errorf("PodName(%q) = %q: not unique", id, n)
		}
		seen[n] = true
	}
	if PodName("fw", "a") == PodName("fw2", "a") {
		t.Error("pod names of two frameworks' tasks collide")
	}
	if n := PodName("fw", "web.abc"); !strings.HasPrefix(n, "web-abc-") {
		t.Errorf("PodName keeps the task id readable: %q", n)
	}
}

func TestEngineUnavailable(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.Engine = nil
		o.EngineErr = errors.New("connecting to containerd at /nope.sock: no such file")
	})
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	st := h.waitState("t", mesos.TASK_FAILED)
	if !strings.Contains(st.GetMessage(), "/nope.sock") || st.GetReason() != mesos.REASON_CONTAINER_LAUNCH_FAILED {
		t.Errorf("got %v %q", st.GetReason(), st.GetMessage())
	}
	if err := h.waitExit(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// The terminal update goes out once the pod's IP and host ports are
// released (Down's Released), before the rest of the removal; the
// executor still exits only after the removal has finished.
func TestTerminalUpdateBeforeRemoval(t *testing.T) {
	h := newHarness(t, nil)
	block := make(chan struct{})
	h.eng.removeBlock = block
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	run := h.waitState("t", mesos.TASK_RUNNING)
	pod := labelValue(run, "compod.pod")
	h.eng.push(pod, runtime.PodState{Pod: pod, Phase: runtime.PhaseFailed, Service: "db", ExitCode: 3, Reason: runtime.ReasonServiceExit,
		Exits: map[string]uint32{"db": 3}})
	st := h.waitState("t", mesos.TASK_FAILED)
	if n := h.eng.removals(); n != 0 {
		t.Fatalf("%d removals finished before the terminal update arrived; the fake's removal is blocked", n)
	}
	if err := h.ex.WaitAcked(ctxFor(t, 5*time.Second), st.UUID); err != nil {
		t.Fatalf("terminal update not acknowledged: %v", err)
	}
	// Every update is acknowledged: an executor that did not wait for the
	// removal would exit now. Give it a moment to do so (a negative check
	// needs a bound).
	select {
	case err := <-h.runErr:
		h.runErr <- err
		t.Fatalf("executor exited (%v) while the pod's removal was still running", err)
	case <-time.After(500 * time.Millisecond):
	}
	close(block)
	if err := h.waitExit(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := h.eng.removals(); n != 1 {
		t.Errorf("pod removed %d times by the executor's exit, want 1", n)
	}
}
