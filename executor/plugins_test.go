package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/internal/agentsim"
	"github.com/compod/compod/plugin"
	"github.com/compod/compod/translate"
)

// lifecyclePlugin records each hook with what the pod and the agent looked
// like then, and fails the hooks named in fail.
type lifecyclePlugin struct {
	plugin.Base
	name string
	h    *harness
	fail map[string]bool

	mu    sync.Mutex
	calls []string
	tasks []plugin.Task
}

func (p *lifecyclePlugin) Name() string { return p.name }

func (p *lifecyclePlugin) record(hook string, t plugin.Task) error {
	eng := p.h.eng
	ups, _, _ := eng.counts()
	seen := fmt.Sprintf("%s(ups=%d running=%v removed=%d)", hook, ups, eng.isRunning(t.Pod), eng.removals())
	p.mu.Lock()
	p.calls = append(p.calls, seen)
	p.tasks = append(p.tasks, t)
	p.mu.Unlock()
	if p.fail[hook] {
		return errors.New("refused by the test")
	}
	return nil
}

func (p *lifecyclePlugin) PreLaunch(_ context.Context, t plugin.Task, plan *translate.PodPlan) error {
	return p.record(plugin.HookPreLaunch, t)
}
func (p *lifecyclePlugin) PostLaunch(_ context.Context, t plugin.Task, _ *translate.PodPlan) error {
	return p.record(plugin.HookPostLaunch, t)
}
func (p *lifecyclePlugin) PreKill(_ context.Context, t plugin.Task, _ *translate.PodPlan) error {
	return p.record(plugin.HookPreKill, t)
}
func (p *lifecyclePlugin) PostKill(_ context.Context, t plugin.Task, _ *translate.PodPlan) error {
	return p.record(plugin.HookPostKill, t)
}
func (p *lifecyclePlugin) Shutdown(_ context.Context, t plugin.Task, _ *translate.PodPlan) error {
	return p.record(plugin.HookShutdown, t)
}

func (p *lifecyclePlugin) seen() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.calls, " ")
}

func withPluginOrder(info mesos.TaskInfo, order string) mesos.TaskInfo {
	info.Labels.Labels = append(info.Labels.Labels, label(LabelPluginOrder, order))
	return info
}

// TestPluginLifecycle: a plugin named by the task label sees launch,
// running, kill, removal and the executor's exit in that order, each at
// the right moment; its failing PreKill and PostKill are reported in the
// terminal update and the pod is stopped and removed all the same.
func TestPluginLifecycle(t *testing.T) {
	h := newHarness(t, nil)
	p := &lifecyclePlugin{name: "test-lifecycle", h: h, fail: map[string]bool{plugin.HookPreKill: true, plugin.HookPostKill: true}}
	plugin.Register(p)
	h.launch(withPluginOrder(h.taskInfo("plug.1", map[string]string{"docker-compose.yml": "services: {}"}, [2]uint64{31000, 31002}), "test-lifecycle"))
	h.waitState("plug.1", mesos.TASK_RUNNING)
	h.kill("plug.1", nil)
	killed := h.waitState("plug.1", mesos.TASK_KILLED)
	if err := h.waitExit(5 * time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := "pre_launch(ups=0 running=false removed=0) " +
		"post_launch(ups=1 running=true removed=0) " +
		"pre_kill(ups=1 running=true removed=0) " +
		"post_kill(ups=1 running=false removed=1) " +
		"shutdown(ups=1 running=false removed=1)"
	if got := p.seen(); got != want {
		t.Errorf("hooks:\n%s\nwant\n%s", got, want)
	}
	if msg := killed.GetMessage(); msg != `killed by the framework; plugin "test-lifecycle" pre_kill: refused by the test; plugin "test-lifecycle" post_kill: refused by the test` {
		t.Errorf("TASK_KILLED message %q does not report the PreKill and PostKill failures", msg)
	}
	if ups, stops, downs := h.eng.counts(); ups != 1 || stops != 1 || downs != 1 || h.eng.removals() != 1 {
		t.Errorf("pod ups %d stops %d downs %d removals %d: a failing PreKill must not leave the pod behind", ups, stops, downs, h.eng.removals())
	}
	p.mu.Lock()
	task := p.tasks[0]
	p.mu.Unlock()
	want1 := plugin.Task{TaskID: "plug.1", ExecutorID: h.env.ExecutorID, FrameworkID: h.env.FrameworkID,
		AgentID: task.AgentID, Sandbox: h.env.Sandbox, Pod: PodName(h.env.FrameworkID, "plug.1")}
	if task != want1 || task.ExecutorID == "" || task.FrameworkID == "" {
		t.Errorf("plugin task %+v, want %+v", task, want1)
	}
}

// TestPluginPreLaunchFails: a failing PreLaunch fails the task, naming the
// plugin, before anything is created; no later hook runs.
func TestPluginPreLaunchFails(t *testing.T) {
	h := newHarness(t, nil)
	p := &lifecyclePlugin{name: "test-refuser", h: h, fail: map[string]bool{plugin.HookPreLaunch: true}}
	plugin.Register(p)
	h.launch(withPluginOrder(h.taskInfo("plug.2", map[string]string{"docker-compose.yml": "services: {}"}, [2]uint64{31000, 31002}), "test-refuser"))
	st := h.waitState("plug.2", mesos.TASK_FAILED)
	if st.GetMessage() != `plugin "test-refuser" pre_launch: refused by the test` || st.GetReason() != mesos.REASON_TASK_INVALID {
		t.Errorf("TASK_FAILED %v %q", st.GetReason(), st.GetMessage())
	}
	if err := h.waitExit(5 * time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ups, _, _ := h.eng.counts(); ups != 0 {
		t.Errorf("a pod was launched after its PreLaunch failed")
	}
	if got := p.seen(); got != "pre_launch(ups=0 running=false removed=0)" {
		t.Errorf("hooks after a failed PreLaunch: %s", got)
	}
}

// TestPluginOutOfProcessTimeout: an out-of-process plugin that hangs in
// post_launch is killed at the configured timeout and the task reports it
// with a TASK_RUNNING update; the pod keeps running until killed.
func TestPluginOutOfProcessTimeout(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\n[ \"$1\" = post_launch ] && exec sleep 1000\nexit 0\n"
	if err := os.WriteFile(filepath.Join(dir, "slow"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(o *Options) {
		o.PluginDir, o.PluginTimeout, o.PluginOrder = dir, 300*time.Millisecond, []string{"slow"}
	})
	h.launch(h.taskInfo("plug.3", map[string]string{"docker-compose.yml": "services: {}"}, [2]uint64{31000, 31002}))
	r := h.waitRecord("the post_launch timeout reported", 5*time.Second, func(r agentsim.StatusRecord) bool {
		return r.Status.GetState() == mesos.TASK_RUNNING && strings.Contains(r.Status.GetMessage(), `plugin "slow" post_launch: timed out after 300ms`)
	})
	t.Logf("reported: %s", r.Status.GetMessage())
	// The pod's TASK_RUNNING went out first, before PostLaunch ran.
	var order []string
	for _, r := range h.ex.Records() {
		order = append(order, fmt.Sprintf("%v %q", r.Status.GetState(), r.Status.GetMessage()))
	}
	if len(order) < 3 || !strings.HasPrefix(order[1], "TASK_RUNNING") || strings.Contains(order[1], "plugin") {
		t.Errorf("updates %q: want STARTING, RUNNING, then RUNNING with the plugin's failure", order)
	}
	h.kill("plug.3", nil)
	h.waitState("plug.3", mesos.TASK_KILLED)
	if err := h.waitExit(5 * time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// privileger makes every service privileged at PreLaunch.
type privileger struct{ plugin.Base }

func (privileger) Name() string { return "test-privileger" }
func (privileger) PreLaunch(_ context.Context, _ plugin.Task, plan *translate.PodPlan) error {
	for i := range plan.Services {
		plan.Services[i].Privileged = true
	}
	return nil
}

// TestPluginCannotBypassPolicy: the policy judges the plan the plugins
// leave, so a plugin that makes a service privileged gets the pod refused
// under the executor's default policy.
func TestPluginCannotBypassPolicy(t *testing.T) {
	plugin.Register(privileger{})
	h := newHarness(t, func(o *Options) { o.PluginOrder = []string{"test-privileger"} })
	h.launch(h.taskInfo("plug.4", map[string]string{"docker-compose.yml": "services: {}"}, [2]uint64{31000, 31002}))
	st := h.waitState("plug.4", mesos.TASK_FAILED)
	if !strings.Contains(st.GetMessage(), "privileged services are not allowed") || st.GetReason() != mesos.REASON_TASK_INVALID {
		t.Errorf("TASK_FAILED %v %q: want the policy's refusal", st.GetReason(), st.GetMessage())
	}
	if ups, _, _ := h.eng.counts(); ups != 0 {
		t.Errorf("the pod was launched")
	}
	if err := h.waitExit(5 * time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
