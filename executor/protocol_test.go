package executor

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"

	"github.com/compod/compod/runtime"
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
	st := h.agent.waitState("web.1", mesos.TASK_STARTING, 5*time.Second)
	if st.GetSource() != mesos.SOURCE_EXECUTOR || len(st.UUID) != 16 {
		t.Fatalf("STARTING: source %v uuid %x", st.GetSource(), st.UUID)
	}
	run := h.agent.waitState("web.1", mesos.TASK_RUNNING, 5*time.Second)
	if got := labelValue(run, "compod.port.web.80/tcp"); got != "31000" {
		t.Errorf("port label web 80: %q", got)
	}
	if got := labelValue(run, "compod.port.web.443/tcp"); got != "31001" {
		t.Errorf("port label web 443: %q", got)
	}
	if ni := run.GetContainerStatus().GetNetworkInfos(); len(ni) != 1 || ni[0].IPAddresses[0].GetIPAddress() != "10.88.0.7" {
		t.Errorf("network infos: %+v", ni)
	}
	// Sandbox: plan, ports, service logs.
	for _, f := range []string{PlanFile, PortsFile, "web.stdout", "web.stderr", "db.stdout"} {
		if _, err := os.Stat(filepath.Join(h.env.Sandbox, f)); err != nil {
			t.Errorf("sandbox: %v", err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(h.env.Sandbox, PortsFile)); !strings.Contains(string(b), "31001") {
		t.Errorf("ports.json: %s", b)
	}
	// The executor's own cgroup bounds the pod: no pod-level limits.
	if o := h.eng.opt[0]; o.PodCPUs != 0 || o.PodMemoryBytes != 0 {
		t.Errorf("pod limits set under a Mesos cgroup: %+v", o)
	}

	grace := int64(2 * time.Second)
	h.agent.send(&executor.Event{Type: executor.Event_KILL, Kill: &executor.Event_Kill{TaskID: mesos.TaskID{Value: "web.1"},
		KillPolicy: &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: grace}}}})
	killed := h.agent.waitState("web.1", mesos.TASK_KILLED, 5*time.Second)
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
	// The logs survive the pod's removal.
	if b, _ := os.ReadFile(filepath.Join(h.env.Sandbox, "web.stdout")); string(b) != "hello from web\n" {
		t.Errorf("web.stdout after removal: %q", b)
	}
}

func TestServiceFailure(t *testing.T) {
	h := newHarness(t, nil)
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	run := h.agent.waitState("t", mesos.TASK_RUNNING, 5*time.Second)
	pod := labelValue(run, "compod.pod")
	h.eng.push(pod, runtime.PodState{Pod: pod, Phase: runtime.PhaseFailed, Service: "db", ExitCode: 3, Reason: runtime.ReasonServiceExit,
		Message: `service "db" exited with code 3`, Exits: map[string]uint32{"db": 3}})
	st := h.agent.waitState("t", mesos.TASK_FAILED, 5*time.Second)
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
	run := h.agent.waitState("t", mesos.TASK_RUNNING, 5*time.Second)
	pod := labelValue(run, "compod.pod")
	h.eng.push(pod, runtime.PodState{Pod: pod, Phase: runtime.PhaseRunning, Health: map[string]string{"web": "starting"}})
	h.eng.push(pod, runtime.PodState{Pod: pod, Phase: runtime.PhaseRunning, Health: map[string]string{"web": "healthy"}})
	h.agent.waitFor("healthy update", 5*time.Second, func() bool {
		for _, u := range h.agent.updates {
			if u.Healthy != nil && *u.Healthy && u.GetReason() == mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED {
				return true
			}
		}
		return false
	})
	h.eng.push(pod, runtime.PodState{Pod: pod, Phase: runtime.PhaseFailed, Service: "web", ExitCode: 137, Reason: runtime.ReasonOOM,
		Message: `service "web" was killed: out of memory`})
	st := h.agent.waitState("t", mesos.TASK_FAILED, 5*time.Second)
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
			st := h.agent.waitState("bad", mesos.TASK_FAILED, 5*time.Second)
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
	st := h.agent.waitState("t", mesos.TASK_FAILED, 5*time.Second)
	if st.GetReason() != mesos.REASON_CONTAINER_LAUNCH_FAILED || !strings.Contains(st.GetMessage(), "nope:latest") {
		t.Errorf("got %v %q", st.GetReason(), st.GetMessage())
	}
}

func TestKillDuringLaunch(t *testing.T) {
	h := newHarness(t, nil)
	h.eng.upBlock = make(chan struct{})
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	h.agent.waitState("t", mesos.TASK_STARTING, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	h.agent.send(&executor.Event{Type: executor.Event_KILL, Kill: &executor.Event_Kill{TaskID: mesos.TaskID{Value: "t"}}})
	st := h.agent.waitState("t", mesos.TASK_KILLED, 5*time.Second)
	if st.GetReason() != mesos.REASON_TASK_KILLED_DURING_LAUNCH {
		t.Errorf("reason %v", st.GetReason())
	}
}

func TestLaunchGroupRefused(t *testing.T) {
	h := newHarness(t, nil)
	h.agent.send(&executor.Event{Type: executor.Event_LAUNCH_GROUP, LaunchGroup: &executor.Event_LaunchGroup{TaskGroup: mesos.TaskGroupInfo{
		Tasks: []mesos.TaskInfo{{TaskID: mesos.TaskID{Value: "g1"}}, {TaskID: mesos.TaskID{Value: "g2"}}}}}})
	for _, id := range []string{"g1", "g2"} {
		st := h.agent.waitState(id, mesos.TASK_FAILED, 5*time.Second)
		if !strings.Contains(st.GetMessage(), "task groups") || st.GetReason() != mesos.REASON_TASK_GROUP_INVALID {
			t.Errorf("%s: %v %q", id, st.GetReason(), st.GetMessage())
		}
	}
	if err := h.waitExit(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestShutdown(t *testing.T) {
	h := newHarness(t, nil)
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	h.agent.waitState("t", mesos.TASK_RUNNING, 5*time.Second)
	start := time.Now()
	h.agent.send(&executor.Event{Type: executor.Event_SHUTDOWN})
	h.agent.waitState("t", mesos.TASK_KILLED, 5*time.Second)
	if err := h.waitExit(h.env.ShutdownGracePeriod); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > h.env.ShutdownGracePeriod {
		t.Errorf("exit took %v, grace %v", d, h.env.ShutdownGracePeriod)
	}
	if g := h.eng.stopT[0]; g == nil || *g > h.env.ShutdownGracePeriod {
		t.Errorf("stop timeout %v not bounded by the shutdown grace period", g)
	}
}

func TestResubscribeResendsUnacked(t *testing.T) {
	h := newHarness(t, nil)
	h.agent.setAutoAck(false)
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	run := h.agent.waitState("t", mesos.TASK_RUNNING, 5*time.Second)
	pod := labelValue(run, "compod.pod")
	// Acknowledge STARTING only.
	h.agent.mu.Lock()
	starting := h.agent.updates[0]
	h.agent.mu.Unlock()
	h.agent.send(&executor.Event{Type: executor.Event_ACKNOWLEDGED, Acknowledged: &executor.Event_Acknowledged{TaskID: starting.TaskID, UUID: starting.UUID}})
	time.Sleep(100 * time.Millisecond)

	h.agent.restart(500 * time.Millisecond)
	h.agent.waitFor("resubscription", 5*time.Second, func() bool { return len(h.agent.subscribes) >= 2 })
	sub := h.agent.subscribes[len(h.agent.subscribes)-1].Subscribe
	if len(sub.UnacknowledgedUpdates) != 1 || !bytes.Equal(sub.UnacknowledgedUpdates[0].Status.UUID, run.UUID) {
		t.Fatalf("SUBSCRIBE resent %d updates, want RUNNING only", len(sub.UnacknowledgedUpdates))
	}
	if len(sub.UnacknowledgedTasks) != 0 {
		t.Errorf("task resent although an update of it was acknowledged")
	}
	if !h.eng.isRunning(pod) {
		t.Fatal("the pod was stopped during the agent's restart")
	}
	// Still served after resubscription.
	h.agent.setAutoAck(true)
	h.agent.send(&executor.Event{Type: executor.Event_KILL, Kill: &executor.Event_Kill{TaskID: mesos.TaskID{Value: "t"}}})
	h.agent.waitState("t", mesos.TASK_KILLED, 5*time.Second)
}

func TestUnackedTaskResent(t *testing.T) {
	h := newHarness(t, nil)
	h.agent.setAutoAck(false)
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	h.agent.waitState("t", mesos.TASK_RUNNING, 5*time.Second)
	h.agent.restart(200 * time.Millisecond)
	h.agent.waitFor("resubscription", 5*time.Second, func() bool { return len(h.agent.subscribes) >= 2 })
	sub := h.agent.subscribes[len(h.agent.subscribes)-1].Subscribe
	if len(sub.UnacknowledgedTasks) != 1 || len(sub.UnacknowledgedUpdates) != 2 {
		t.Fatalf("SUBSCRIBE: %d tasks %d updates", len(sub.UnacknowledgedTasks), len(sub.UnacknowledgedUpdates))
	}
}

func TestNoCheckpointDisconnect(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Env.Checkpoint = false })
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	run := h.agent.waitState("t", mesos.TASK_RUNNING, 5*time.Second)
	h.agent.restart(-1)
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
	h := newHarness(t, func(o *Options) { o.Env.RecoveryTimeout = time.Second })
	h.launch(h.taskInfo("t", map[string]string{"c.yml": "x"}, [2]uint64{31000, 31001}))
	h.agent.waitState("t", mesos.TASK_RUNNING, 5*time.Second)
	start := time.Now()
	h.agent.restart(-1)
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
	h.agent.waitState("t", mesos.TASK_RUNNING, 5*time.Second)
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
	} {
		n := PodName("fw", id)
		if len(n) > 40 || !podNameRE.MatchString(n) {
			t.Errorf("PodName(%q) = %q: invalid", id, n)
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
	st := h.agent.waitState("t", mesos.TASK_FAILED, 5*time.Second)
	if !strings.Contains(st.GetMessage(), "/nope.sock") || st.GetReason() != mesos.REASON_CONTAINER_LAUNCH_FAILED {
		t.Errorf("got %v %q", st.GetReason(), st.GetMessage())
	}
	if err := h.waitExit(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}
