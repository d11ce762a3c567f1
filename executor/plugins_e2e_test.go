package executor

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/plugin"
	"github.com/compod/compod/runtime"
)

// pluginDir is an operator's plugin directory with the example plugins of
// examples/plugins, and an executor config naming it.
func pluginDir(t *testing.T) (config string) {
	t.Helper()
	root := testenv.ModuleRoot(t)
	dir := t.TempDir()
	if err := os.Symlink(testenv.BuildBinary(t, "./examples/plugins/add-label"), filepath.Join(dir, "add-label")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "examples", "plugins", "deny-privileged"), filepath.Join(dir, "deny-privileged")); err != nil {
		t.Fatal(err)
	}
	config = filepath.Join(t.TempDir(), "executor.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf("plugin_order: [general, add-label, deny-privileged]\nplugins: {dir: %s, timeout: 30secs}\n", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	return config
}

// TestE2EPlugins: the operator's out-of-process plugins and the built-in
// general plugin decorate the pod's containers (labels and environment, as
// containerd holds them); a denying plugin fails the task with its message
// before anything is created, and before the policy (which would refuse
// the privileged service too) is asked.
func TestE2EPlugins(t *testing.T) {
	t.Run("decorate", func(t *testing.T) {
		e := newE2E(t, e2eOpts{})
		e.env = map[string]string{"COMPOD_CONFIG": pluginDir(t)}
		compose := fmt.Sprintf(`services:
  web:
    image: %s
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do busybox sleep 0.1; done"]
    volumes: [".:/mnt/mesos/sandbox"]
`, testenv.BusyboxRef)
		task := taskInfo("plugins-decorate", []string{"docker-compose.yml"}, nil)
		ex := e.launch(task, map[string]string{"docker-compose.yml": compose})
		waitState(t, ex, task.TaskID.Value, mesos.TASK_RUNNING, 60*time.Second)

		ctx := testenv.Context(t)
		ctrs, err := e.c.Containers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, c := range ctrs {
			labels, err := c.Labels(ctx)
			if err != nil || !slices.Contains(e.pods, labels[runtime.LabelPod]) || labels[runtime.LabelRole] != "service" {
				continue
			}
			found++
			for k, v := range map[string]string{
				"example.com/decorated-by": "add-label",
				plugin.LabelTaskID:         task.TaskID.Value,
				plugin.LabelExecutorID:     "compod-" + task.TaskID.Value,
				plugin.LabelFrameworkID:    ex.FrameworkID(),
			} {
				if labels[k] != v {
					t.Errorf("container %s label %s = %q, want %q", c.ID(), k, labels[k], v)
				}
			}
			if !strings.HasPrefix(labels[plugin.LabelFrameworkID], "fw-e2e-") {
				t.Errorf("container %s framework label %q", c.ID(), labels[plugin.LabelFrameworkID])
			}
			spec, err := c.Spec(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"DECORATED_BY=add-label", "MESOS_TASK_ID=" + task.TaskID.Value,
				"MESOS_EXECUTOR_ID=compod-" + task.TaskID.Value, "MESOS_SANDBOX=/mnt/mesos/sandbox"} {
				if !slices.Contains(spec.Process.Env, want) {
					t.Errorf("container %s environment lacks %s: %q", c.ID(), want, spec.Process.Env)
				}
			}
		}
		if found != 1 {
			t.Errorf("found %d service containers of the pod, want 1", found)
		}
		grace := 2 * time.Second
		if err := ex.Kill(ctxFor(t, 5*time.Second), task.TaskID.Value, &grace); err != nil {
			t.Fatal(err)
		}
		killed := waitState(t, ex, task.TaskID.Value, mesos.TASK_KILLED, 15*time.Second)
		if strings.Contains(killed.GetMessage(), "plugin") {
			t.Errorf("TASK_KILLED reports a plugin failure: %s", killed.GetMessage())
		}
		if exit := waitExit(t, ex, 15*time.Second); exit.Code != 0 || exit.Forced || len(exit.Unacked) > 0 {
			t.Errorf("executor exit: %+v", exit)
		}
		// The plugin's stderr is in the executor's log, with its name.
		b, _ := os.ReadFile(filepath.Join(ex.Sandbox(), "stderr"))
		if !strings.Contains(string(b), "plugin=add-label") || !strings.Contains(string(b), "add-label: shutdown for task "+task.TaskID.Value) {
			t.Errorf("the executor's log does not have add-label's stderr lines through shutdown:\n%s", b)
		}
	})

	t.Run("deny", func(t *testing.T) {
		e := newE2E(t, e2eOpts{})
		e.env = map[string]string{"COMPOD_CONFIG": pluginDir(t)}
		compose := fmt.Sprintf("services:\n  web:\n    image: %s\n    privileged: true\n", neverPushed)
		task := taskInfo("plugins-deny", []string{"docker-compose.yml"}, nil)
		ex := e.launch(task, map[string]string{"docker-compose.yml": compose})
		st := waitState(t, ex, task.TaskID.Value, mesos.TASK_FAILED, 20*time.Second)
		want := `plugin "deny-privileged" pre_launch: privileged services are not allowed on this cluster (plugin deny-privileged)`
		if st.GetMessage() != want || st.GetReason() != mesos.REASON_TASK_INVALID {
			t.Errorf("TASK_FAILED %v %q, want REASON_TASK_INVALID %q", st.GetReason(), st.GetMessage(), want)
		}
		if exit := waitExit(t, ex, 20*time.Second); exit.Forced || len(exit.Unacked) > 0 {
			t.Errorf("executor exit: %+v", exit)
		}
		if ctrs := e.containers(); len(ctrs) > 0 {
			t.Errorf("containers were created for a denied pod: %v", ctrs)
		}
	})
}
