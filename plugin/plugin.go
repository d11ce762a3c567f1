// Package plugin holds compod's extension points, dce-go's plugin
// lifecycle: PreLaunch (may change the pod plan; before the admission
// policy judges it), PostLaunch (the pod runs), PreKill (before it is
// stopped), PostKill (after it is removed) and Shutdown (the executor
// exits). Plugins run in the order of the `plugin_order` config or the
// task's `pluginorder` label; they are built in (Register) or executables
// in a plugin directory (external.go). A plugin sees the pod plan and the
// task's ids; it never talks to containerd, and Mesos stays in the
// executor.
package plugin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/compod/compod/translate"
)

// Task identifies the Mesos task (or, for `compod validate`, the pod) the
// hooks are called for: plain ids, so that plugins need no Mesos types.
type Task struct {
	TaskID      string `json:"task_id"`
	ExecutorID  string `json:"executor_id"`
	FrameworkID string `json:"framework_id"`
	// AgentID is empty when the executor was not told (it learns it when
	// it subscribes).
	AgentID string `json:"agent_id,omitempty"`
	// Sandbox is the task sandbox as the executor sees it (MESOS_SANDBOX);
	// bind sources in the plan are paths in the same view.
	Sandbox string `json:"sandbox"`
	// Pod is the pod's name (containers are <pod>_<service>).
	Pod string `json:"pod"`
}

// Plugin is one plugin. Each hook gets the task and the pod plan; only
// PreLaunch may change the plan (the others must treat it as read-only:
// the pod already runs as planned). Embed Base to implement only the hooks
// a plugin needs.
type Plugin interface {
	Name() string
	// PreLaunch is dce-go's PreLaunchTask: after the compose files are
	// translated, before the policy and before anything is created. An
	// error fails the task.
	PreLaunch(ctx context.Context, t Task, plan *translate.PodPlan) error
	// PostLaunch is PostLaunchTask: the pod is running (TASK_RUNNING was
	// sent).
	PostLaunch(ctx context.Context, t Task, plan *translate.PodPlan) error
	// PreKill is PreKillTask: the pod is about to be stopped (KILL,
	// SHUTDOWN, a failed or finished pod). The pod is stopped whatever it
	// returns.
	PreKill(ctx context.Context, t Task, plan *translate.PodPlan) error
	// PostKill is PostKillTask: the pod is stopped and removed.
	PostKill(ctx context.Context, t Task, plan *translate.PodPlan) error
	// Shutdown: the executor is exiting; called once per task the plugin
	// served.
	Shutdown(ctx context.Context, t Task, plan *translate.PodPlan) error
}

// Base implements every hook as doing nothing.
type Base struct{}

func (Base) PreLaunch(context.Context, Task, *translate.PodPlan) error  { return nil }
func (Base) PostLaunch(context.Context, Task, *translate.PodPlan) error { return nil }
func (Base) PreKill(context.Context, Task, *translate.PodPlan) error    { return nil }
func (Base) PostKill(context.Context, Task, *translate.PodPlan) error   { return nil }
func (Base) Shutdown(context.Context, Task, *translate.PodPlan) error   { return nil }

var (
	mu       sync.Mutex
	registry = map[string]Plugin{}
)

// Register makes an in-process plugin available by name; it panics on a
// duplicate name, which is a programming error.
func Register(p Plugin) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[p.Name()]; dup {
		panic("plugin: " + p.Name() + " registered twice")
	}
	registry[p.Name()] = p
}

// Names lists the registered (in-process) plugins.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	return namesLocked()
}

func namesLocked() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Resolve turns an order into in-process plugins (Resolver with no
// plugin directory).
func Resolve(order []string) ([]Plugin, error) { return Resolver{}.Resolve(order) }

// Resolver finds plugins by name: the registered ones, then the
// executables of Dir (external.go).
type Resolver struct {
	// Dir is the operator's plugin directory; "" means in-process
	// plugins only.
	Dir string
}

// Resolve turns an order (names, as the config or a task label gives them)
// into plugins. An unknown or repeated name is an error, and so is a name
// that is both built in and in the plugin directory: a plugin the operator
// asked for is never silently skipped or replaced.
func (r Resolver) Resolve(order []string) ([]Plugin, error) {
	mu.Lock()
	defer mu.Unlock()
	var out []Plugin
	var seen []string
	for _, raw := range order {
		name := strings.TrimSpace(raw)
		if name == "" {
			continue
		}
		if slices.Contains(seen, name) {
			return nil, fmt.Errorf("plugin %q is named twice in the plugin order", name)
		}
		seen = append(seen, name)
		p, builtin := registry[name]
		ext, extErr := r.external(name)
		switch {
		case builtin && ext != nil:
			return nil, fmt.Errorf("plugin %q is both built into compod and an executable in the plugin directory %s: rename the executable", name, r.Dir)
		case builtin:
			out = append(out, p)
		case ext != nil:
			out = append(out, ext)
		case extErr != nil:
			return nil, extErr
		default:
			return nil, fmt.Errorf("unknown plugin %q in the plugin order (%s)", name, r.knownLocked())
		}
	}
	return out, nil
}

// external is the executable Dir/name, nil when there is none.
func (r Resolver) external(name string) (*External, error) {
	if r.Dir == "" || !filepath.IsLocal(name) || strings.ContainsRune(name, '/') {
		return nil, nil
	}
	path := filepath.Join(r.Dir, name)
	fi, err := os.Stat(path)
	switch {
	case os.IsNotExist(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("plugin %q: %w", name, err)
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return nil, fmt.Errorf("plugin %q: %s is not an executable file (chmod +x it)", name, path)
	}
	return &External{PluginName: name, Path: path}, nil
}

func (r Resolver) knownLocked() string {
	known := namesLocked()
	dirNote := ""
	if r.Dir != "" {
		ents, err := os.ReadDir(r.Dir)
		if err != nil {
			dirNote = fmt.Sprintf("; the plugin directory cannot be read: %v", err)
		}
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
				known = append(known, e.Name())
			}
		}
	}
	if len(known) == 0 {
		if r.Dir == "" {
			return "no plugin is built into this compod and no plugin directory is configured"
		}
		return "none built in, none in " + r.Dir + dirNote
	}
	sort.Strings(known)
	known = slices.Compact(known)
	return "known: " + strings.Join(known, ", ") + dirNote
}
