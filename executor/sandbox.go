package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/continuity"
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/plugin"
	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

// Task labels compod reads.
const (
	// LabelFileName is dce-go's label: comma-separated compose files,
	// relative to the sandbox.
	LabelFileName = "fileName"
	// LabelFiles is compod's own name for the same thing.
	LabelFiles = "compod.files"
	// LabelPluginOrder (dce-go's `pluginorder`) and LabelPlugins set the
	// order of the launch-time plugins, comma-separated.
	LabelPluginOrder = "pluginorder"
	LabelPlugins     = "compod.plugins"
)

// Files the executor writes into the sandbox.
const (
	// PlanFile is the effective pod plan (compose files merged,
	// interpolated, host ports assigned), for debugging.
	PlanFile = "compod-plan.json"
	// PortsFile is the host port mapping.
	PortsFile = "ports.json"
)

// maxPodName is the longest pod name the executor makes.
const maxPodName = 40

// PodName derives a valid pod name (translate.ValidatePodName: letters and
// digits joined by single '-' or '_', at most 40 characters) from the task
// id: the id, lowercased, with other characters replaced by '-', shortened,
// plus a hash of framework and task id so that two tasks never share a pod.
func PodName(frameworkID, taskID string) string {
	sum := sha256.Sum256([]byte(frameworkID + "\x00" + taskID))
	suffix := hex.EncodeToString(sum[:4])
	var b strings.Builder
	separated := false // the last byte written is a separator
	for _, r := range strings.ToLower(taskID) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			separated = false
			continue
		}
		// Containerd ids allow no separator first nor two in a row.
		if b.Len() > 0 && !separated {
			if r == '_' {
				b.WriteByte('_')
			} else {
				b.WriteByte('-')
			}
			separated = true
		}
	}
	base := b.String()
	if n := maxPodName - len(suffix) - 1; len(base) > n {
		base = base[:n]
	}
	base = strings.TrimRight(base, "-_")
	if base == "" {
		return "task-" + suffix
	}
	return base + "-" + suffix
}

func taskLabel(info mesos.TaskInfo, keys ...string) (key, value string, ok bool) {
	if info.Labels == nil {
		return "", "", false
	}
	for _, k := range keys {
		for _, l := range info.Labels.Labels {
			if l.Key == k && l.Value != nil && strings.TrimSpace(*l.Value) != "" {
				return k, *l.Value, true
			}
		}
	}
	return "", "", false
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// ComposeFiles returns the absolute paths of the task's compose files (label
// fileName or compod.files, relative to the sandbox), checking that they
// exist and are inside the sandbox. The executor runs as root and whoever
// submits a task writes the label: an absolute path, a "..", or a symlink
// of a fetched archive must not make it read (and quote, in a parse error)
// a host file.
func ComposeFiles(info mesos.TaskInfo, sandbox string) ([]string, error) {
	key, v, ok := taskLabel(info, LabelFileName, LabelFiles)
	if !ok {
		return nil, fmt.Errorf("task %q names no compose file: set the task label %q (or %q) to the compose files, comma-separated, relative to the sandbox (e.g. \"docker-compose.yml,docker-compose.override.yml\")",
			info.TaskID.Value, LabelFileName, LabelFiles)
	}
	// os.Root resolves every path, symlinks included, without leaving the
	// sandbox.
	root, err := os.OpenRoot(sandbox)
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	defer root.Close()
	var files []string
	for _, f := range splitList(v) {
		if !filepath.IsLocal(f) {
			return nil, fmt.Errorf("compose file %q (task label %q) is not inside the sandbox: give a path relative to the sandbox, without \"..\"", f, key)
		}
		fi, err := root.Stat(f)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("compose file %q (task label %q) is not in the sandbox %s: add it to the task's fetch URIs", f, key, sandbox)
		case err != nil:
			return nil, fmt.Errorf("compose file %q (task label %q): %w", f, key, err)
		case !fi.Mode().IsRegular():
			return nil, fmt.Errorf("compose file %q (task label %q) is not a regular file", f, key)
		}
		files = append(files, filepath.Join(sandbox, f))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("task label %q is empty: give comma-separated compose file paths", key)
	}
	return files, nil
}

// Task labels that override compod's config file for one task.
const (
	LabelPull          = "compod.pull"           // missing | always | never
	LabelLaunchTimeout = "compod.launch_timeout" // a duration: "2mins", "90s"
)

// TaskOverrides are the per-task settings a TaskInfo's labels may give.
type TaskOverrides struct {
	Pull          string        // "" = the config file's
	LaunchTimeout time.Duration // 0 = the config file's
}

// ParseTaskOverrides reads and validates the override labels; the error
// names the label and what it accepts.
func ParseTaskOverrides(info mesos.TaskInfo) (TaskOverrides, error) {
	var o TaskOverrides
	if _, v, ok := taskLabel(info, LabelPull); ok {
		switch v {
		case runtime.PullMissing, runtime.PullAlways, runtime.PullNever:
			o.Pull = v
		default:
			return o, fmt.Errorf("task label %q = %q: want %s, %s or %s", LabelPull, v, runtime.PullMissing, runtime.PullAlways, runtime.PullNever)
		}
	}
	if _, v, ok := taskLabel(info, LabelLaunchTimeout); ok {
		d, err := ParseDuration(v)
		if err != nil || d <= 0 {
			return o, fmt.Errorf("task label %q = %q: want a positive duration such as \"2mins\" or \"90s\"", LabelLaunchTimeout, v)
		}
		o.LaunchTimeout = d
	}
	return o, nil
}

// prepare turns the TaskInfo into a pod plan with host ports assigned and
// writes the plan into the sandbox. Nothing is created on the host.
func (t *task) prepare() (*translate.PodPlan, error) {
	x := t.x
	sandbox := x.o.Env.Sandbox
	files, err := ComposeFiles(t.info, sandbox)
	if err != nil {
		return nil, err
	}
	overrides, err := ParseTaskOverrides(t.info)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.overrides = overrides
	t.mu.Unlock()
	order := x.o.PluginOrder
	if _, v, ok := taskLabel(t.info, LabelPluginOrder, LabelPlugins); ok {
		order = splitList(v)
	}
	// Resolved first: an unknown plugin fails the task before any work.
	plugins, err := plugin.Resolver{Dir: x.o.PluginDir}.Resolve(order)
	if err != nil {
		return nil, err
	}
	plan, err := x.o.Load(context.Background(), LoadRequest{Files: files, Project: t.pod, WorkingDir: sandbox})
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	plan.Name = t.pod
	for _, w := range plan.Warnings {
		t.log.Warn("compose", "warning", w)
	}
	chain := plugin.Chain{Plugins: plugins, Task: t.pluginTask(), Timeout: x.o.PluginTimeout, Log: t.log}
	if err := chain.PreLaunch(context.Background(), plan); err != nil {
		return nil, err
	}
	// The later hooks run only for a task whose PreLaunch hooks all ran.
	t.mu.Lock()
	t.plugins = chain
	t.mu.Unlock()
	// After the plugins (they may change the plan: the policy judges what
	// will run), before anything is created. Check also pins the bind
	// sources to the paths it judged.
	if err := translate.Admit(plan, x.policy()); err != nil {
		return nil, err
	}
	mappings, err := taskPortMappings(t.info)
	if err != nil {
		return nil, err
	}
	assigned, err := AssignHostPorts(plan.Ports, OfferedPorts(t.info.Resources), mappings)
	if err != nil {
		return nil, err
	}
	applyHostPorts(plan, assigned)
	// The plan holds the services' environment, often secrets: only the
	// executor's user reads it (the agent serves sandbox files as root).
	if err := writeJSON(sandbox, PlanFile, plan, 0o600); err != nil {
		t.log.Warn("writing the pod plan to the sandbox", "err", err)
	}
	return plan, nil
}

// policy is the admission policy of every pod: the default for a shared
// agent, with the operator's rules laid over it.
func (x *Executor) policy() translate.Policy {
	p := translate.DefaultExecutorPolicy(x.o.Env.Sandbox)
	if x.o.Policy != nil {
		p = p.Overlay(*x.o.Policy)
	}
	return p
}

func writeJSON(dir, name string, v any, mode os.FileMode) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return continuity.AtomicWriteFile(filepath.Join(dir, name), append(data, '\n'), mode)
}
