package plugin

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/compod/compod/translate"
)

// recorder records the hooks it sees; fail names hooks it fails.
type recorder struct {
	Base
	name string
	log  *hookLog
	fail map[string]bool
}

type hookLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *hookLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, s)
}

func (r recorder) Name() string { return r.name }

func (r recorder) hook(h string) error {
	r.log.add(r.name + ":" + h)
	if r.fail[h] {
		return errors.New("refused")
	}
	return nil
}

func (r recorder) PreLaunch(_ context.Context, _ Task, p *translate.PodPlan) error {
	for i := range p.Services {
		if p.Services[i].Labels == nil {
			p.Services[i].Labels = map[string]string{}
		}
		p.Services[i].Labels["by"] = r.name
	}
	return r.hook(HookPreLaunch)
}
func (r recorder) PostLaunch(context.Context, Task, *translate.PodPlan) error {
	return r.hook(HookPostLaunch)
}
func (r recorder) PreKill(context.Context, Task, *translate.PodPlan) error {
	return r.hook(HookPreKill)
}
func (r recorder) PostKill(context.Context, Task, *translate.PodPlan) error {
	return r.hook(HookPostKill)
}
func (r recorder) Shutdown(context.Context, Task, *translate.PodPlan) error {
	return r.hook(HookShutdown)
}

// TestChainOrder: every hook runs the plugins in the configured order; a
// failing PreLaunch stops the chain and names the plugin; a failure of a
// later hook is returned, naming the plugin and hook, and the next plugins
// still run.
func TestChainOrder(t *testing.T) {
	log := &hookLog{}
	a := recorder{name: "a", log: log, fail: map[string]bool{HookPreKill: true}}
	b := recorder{name: "b", log: log}
	plan := &translate.PodPlan{Services: []translate.ServiceSpec{{Name: "web"}}}
	c := Chain{Plugins: []Plugin{a, b}}
	ctx := context.Background()
	if err := c.PreLaunch(ctx, plan); err != nil {
		t.Fatal(err)
	}
	if got := plan.Services[0].Labels["by"]; got != "b" {
		t.Errorf("label by=%q: the later plugin must run last", got)
	}
	if err := c.PostLaunch(ctx, plan); err != nil {
		t.Fatal(err)
	}
	err := c.PreKill(ctx, plan)
	var herr *HookError
	if !errors.As(err, &herr) || herr.Plugin != "a" || herr.Hook != HookPreKill || err.Error() != `plugin "a" pre_kill: refused` {
		t.Errorf("PreKill error %v: want plugin a's pre_kill failure", err)
	}
	if err := c.PostKill(ctx, plan); err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(ctx, plan); err != nil {
		t.Fatal(err)
	}
	want := "a:pre_launch b:pre_launch a:post_launch b:post_launch a:pre_kill b:pre_kill a:post_kill b:post_kill a:shutdown b:shutdown"
	if got := strings.Join(log.calls, " "); got != want {
		t.Errorf("hooks ran as\n%s\nwant\n%s", got, want)
	}

	log.calls = nil
	c = Chain{Plugins: []Plugin{recorder{name: "x", log: log, fail: map[string]bool{HookPreLaunch: true}}, b}}
	if err := c.PreLaunch(ctx, plan); err == nil || err.Error() != `plugin "x" pre_launch: refused` {
		t.Errorf("PreLaunch error %v does not name the plugin", err)
	}
	if got := strings.Join(log.calls, " "); got != "x:pre_launch" {
		t.Errorf("after a failed PreLaunch the chain went on: %s", got)
	}
}

func TestResolve(t *testing.T) {
	log := &hookLog{}
	Register(recorder{name: "first", log: log})
	Register(recorder{name: "second", log: log})
	ps, err := Resolve([]string{"first", " second ", ""})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Name() != "first" || ps[1].Name() != "second" {
		t.Errorf("resolved %v", ps)
	}
	for _, order := range [][]string{{"nope"}, {"first", "first"}} {
		if _, err := Resolve(order); err == nil {
			t.Errorf("order %v accepted", order)
		}
	}
	if _, err := Resolve([]string{"nope"}); err == nil || !strings.Contains(err.Error(), "known: first, general, second") {
		t.Errorf("error %v does not list the known plugins", err)
	}

	dir := t.TempDir()
	writeScript(t, dir, "ext", "exit 0")
	writeFile(t, dir, "notexec", "", 0o644)
	writeScript(t, dir, "first", "exit 0")
	r := Resolver{Dir: dir}
	ps, err = r.Resolve([]string{"general", "ext"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ps[1].(*External); !ok || ps[1].Name() != "ext" {
		t.Errorf("ext resolved to %#v, want the executable", ps[1])
	}
	for order, want := range map[string]string{
		"notexec": "is not an executable file",
		"first":   "both built into compod and an executable",
		"nope":    "known: ext, first, general, second",
		"../ext":  "unknown plugin",
	} {
		if _, err := r.Resolve([]string{order}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("order %q: error %v, want %q", order, err, want)
		}
	}
	missing := Resolver{Dir: filepath.Join(dir, "missing")}
	if _, err := missing.Resolve([]string{"ext"}); err == nil || !strings.Contains(err.Error(), "the plugin directory cannot be read") {
		t.Errorf("a missing plugin directory: %v", err)
	}
}
