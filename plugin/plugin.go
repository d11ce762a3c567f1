// Package plugin holds compod's launch-time extension points: the place
// where dce-go's plugins (run in the order of its `pluginorder` config or
// task label) change a pod before it starts. A plugin mutates the pod plan;
// it never talks to containerd or Mesos.
package plugin

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/compod/compod/translate"
)

// Plugin changes a pod at launch. PreLaunch is dce-go's PreLaunchTask: it
// runs after the compose files are translated and before anything is
// created, in the configured order, and may change the plan.
type Plugin interface {
	Name() string
	PreLaunch(ctx context.Context, plan *translate.PodPlan) error
}

var (
	mu       sync.Mutex
	registry = map[string]Plugin{}
)

// Register makes a plugin available by name; it panics on a duplicate
// name, which is a programming error.
func Register(p Plugin) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[p.Name()]; dup {
		panic("plugin: " + p.Name() + " registered twice")
	}
	registry[p.Name()] = p
}

// Names lists the registered plugins.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Resolve turns an order (names, as the config or a task label gives them)
// into plugins. An unknown or repeated name is an error: a plugin the
// operator asked for is never silently skipped.
func Resolve(order []string) ([]Plugin, error) {
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
		p, ok := registry[name]
		if !ok {
			known := "none are built into this compod"
			if len(registry) > 0 {
				names := make([]string, 0, len(registry))
				for n := range registry {
					names = append(names, n)
				}
				sort.Strings(names)
				known = "known: " + strings.Join(names, ", ")
			}
			return nil, fmt.Errorf("unknown plugin %q in the plugin order (%s)", name, known)
		}
		seen = append(seen, name)
		out = append(out, p)
	}
	return out, nil
}

// PreLaunch runs the plugins' PreLaunch hooks in order; the error names the
// plugin.
func PreLaunch(ctx context.Context, plugins []Plugin, plan *translate.PodPlan) error {
	for _, p := range plugins {
		if err := p.PreLaunch(ctx, plan); err != nil {
			return fmt.Errorf("plugin %q: %w", p.Name(), err)
		}
	}
	return nil
}
