package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/translate"
)

func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeScript(t *testing.T, dir, name, body string) string {
	return writeFile(t, dir, name, "#!/bin/sh\n"+body+"\n", 0o755)
}

func external(t *testing.T, name, body string) (*External, *bytes.Buffer) {
	t.Helper()
	p := writeScript(t, t.TempDir(), name, body)
	return &External{PluginName: name, Path: p}, &bytes.Buffer{}
}

func chainOf(p Plugin, logs *bytes.Buffer, timeout time.Duration) Chain {
	return Chain{Plugins: []Plugin{p}, Timeout: timeout, Task: Task{TaskID: "t1", Pod: "pod1"},
		Log: slog.New(slog.NewTextHandler(logs, nil)).With("task", "t1")}
}

func testPlan() *translate.PodPlan {
	return &translate.PodPlan{Name: "pod1", Services: []translate.ServiceSpec{{Name: "web", Image: "busybox"}}}
}

// TestExternalHangsKilled: a plugin that does not answer within the
// timeout fails the hook with a message naming it and the timeout, and it
// and the process it started are killed.
func TestExternalHangsKilled(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	p, logs := external(t, "hang", fmt.Sprintf(`sleep 1000 & echo $$ $! > %s.tmp; mv %[1]s.tmp %[1]s; wait`, pids))
	start := time.Now()
	err := chainOf(p, logs, 300*time.Millisecond).PreLaunch(context.Background(), testPlan())
	if err == nil || !strings.Contains(err.Error(), `plugin "hang" pre_launch: timed out after 300ms`) {
		t.Fatalf("error %v: want the plugin and its timeout named", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the hanging plugin held the call for %v", d)
	}
	b, rerr := os.ReadFile(pids)
	if rerr != nil {
		t.Fatalf("the plugin did not start its child: %v", rerr)
	}
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		waitGone(t, pid)
	}
}

// waitGone waits until pid is dead: gone, or a zombie its new parent has
// not reaped yet.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("process %d of the timed-out plugin still runs: %s", pid, stat)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExternalAnswers(t *testing.T) {
	for _, c := range []struct {
		name, body, want string
	}{
		{"bad-json", `echo "all good"`, `plugin "bad-json" pre_launch: answered invalid JSON on stdout`},
		{"unknown-key", `echo '{"plna": {}}'`, `unknown field "plna"`},
		{"two-docs", `echo '{} {}'`, `more than one JSON document`},
		{"refuses", `echo '{"error": "no pods on Sundays"}'`, `plugin "refuses" pre_launch: no pods on Sundays`},
		{"exits", `echo "cannot reach the inventory" >&2; exit 3`, `plugin "exits" pre_launch: exited with status 3: cannot reach the inventory`},
		{"exits-with-error", `echo '{"error": "quota exceeded"}'; exit 1`, `plugin "exits-with-error" pre_launch: quota exceeded`},
		{"renames", `echo '{"plan": {"name": "other"}}'`, `a plugin may not change the pod's name`},
		{"silent", `cat > /dev/null`, ``},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, logs := external(t, c.name, c.body)
			plan := testPlan()
			err := chainOf(p, logs, 5*time.Second).PreLaunch(context.Background(), plan)
			switch {
			case c.want == "" && err != nil:
				t.Errorf("error %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("error %v, want %q", err, c.want)
			}
			if !reflect.DeepEqual(plan, testPlan()) {
				t.Errorf("the plan changed: %+v", plan)
			}
		})
	}
}

// TestExternalProtocol: the request carries the hook (argv[1] and
// "hook"), the task's ids and the plan; stderr is logged with the plugin's
// name and the task; a plan answered to a later hook is ignored.
func TestExternalProtocol(t *testing.T) {
	dir := t.TempDir()
	p, logs := external(t, "spy", fmt.Sprintf(`cat > %s/req.$1; echo "saw $1" >&2; echo '{"plan": {"name": "pod1"}}'`, dir))
	c := chainOf(p, logs, 5*time.Second)
	c.Task = Task{TaskID: "t1", ExecutorID: "e1", FrameworkID: "f1", AgentID: "a1", Sandbox: dir, Pod: "pod1"}
	plan := testPlan()
	if err := c.PostLaunch(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(plan, testPlan()) {
		t.Errorf("a post_launch answer changed the plan")
	}
	var req map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "req.post_launch"))
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatalf("request %q: %v", b, err)
	}
	for k, v := range map[string]string{"hook": "post_launch", "task_id": "t1", "executor_id": "e1",
		"framework_id": "f1", "agent_id": "a1", "sandbox": dir, "pod": "pod1"} {
		if req[k] != v {
			t.Errorf("request %s = %v, want %q", k, req[k], v)
		}
	}
	if pl, _ := req["plan"].(map[string]any); pl["name"] != "pod1" {
		t.Errorf("request plan %v", req["plan"])
	}
	for _, want := range []string{`msg="plugin stderr"`, "task=t1", "plugin=spy", "hook=post_launch", `line="saw post_launch"`,
		`msg="plugin answered a plan to a hook that cannot change it; ignored"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not have %s:\n%s", want, logs)
		}
	}
}

// TestExamplePlugins runs the plugins of examples/plugins: add-label
// returns the full plan (a rich one: every field translate knows), which
// comes back exactly as the same change made in-process would leave it;
// deny-privileged refuses a privileged pod and passes the others.
func TestExamplePlugins(t *testing.T) {
	root := testenv.ModuleRoot(t)
	golden := filepath.Join(root, "translate", "testdata", "all-fields")
	plan, err := translate.Load(context.Background(), translate.LoadOptions{Files: []string{filepath.Join(golden, "compose.yaml")}, Environ: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	want := clonePlan(t, plan)
	for i := range want.Services {
		s := &want.Services[i]
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels["example.com/decorated-by"] = "add-label"
		s.Env = append(s.Env, "DECORATED_BY=add-label")
	}
	logs := &bytes.Buffer{}
	add := &External{PluginName: "add-label", Path: testenv.BuildBinary(t, "./examples/plugins/add-label")}
	if err := chainOf(add, logs, 30*time.Second).PreLaunch(context.Background(), plan); err != nil {
		t.Fatalf("add-label: %v\n%s", err, logs)
	}
	if !reflect.DeepEqual(plan, want) {
		a, _ := json.MarshalIndent(plan, "", " ")
		b, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("the plan did not survive the round trip through the plugin:\n%s\nwant\n%s", a, b)
	}

	deny := &External{PluginName: "deny-privileged", Path: filepath.Join(root, "examples", "plugins", "deny-privileged")}
	ok := testPlan()
	if err := chainOf(deny, logs, 5*time.Second).PreLaunch(context.Background(), ok); err != nil {
		t.Errorf("deny-privileged refused an unprivileged pod: %v", err)
	}
	bad := testPlan()
	bad.Services[0].Privileged = true
	err = chainOf(deny, logs, 5*time.Second).PreLaunch(context.Background(), bad)
	if err == nil || err.Error() != `plugin "deny-privileged" pre_launch: privileged services are not allowed on this cluster (plugin deny-privileged)` {
		t.Errorf("deny-privileged: %v", err)
	}
}

func clonePlan(t *testing.T, p *translate.PodPlan) *translate.PodPlan {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var out translate.PodPlan
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&out, p) {
		t.Fatal("translate.PodPlan does not survive JSON")
	}
	return &out
}

// TestExternalLeftoverChild: a plugin that answers and exits, leaving a
// child that holds its stdout, succeeds; the child is killed.
func TestExternalLeftoverChild(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	p, logs := external(t, "leaver", fmt.Sprintf(`sleep 1000 & echo $! > %s; echo '{}'`, pidFile))
	if err := chainOf(p, logs, 10*time.Second).PostLaunch(context.Background(), testPlan()); err != nil {
		t.Fatalf("error %v\n%s", err, logs)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	waitGone(t, pid)
	if !strings.Contains(logs.String(), "left a process holding its stdout") {
		t.Errorf("the leftover was not logged:\n%s", logs)
	}
}
