package translate

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// load translates compose.yaml of files with an empty environment
// (plus environ) and fails the test on an error.
func load(t *testing.T, files map[string]string, environ map[string]string) *PodPlan {
	t.Helper()
	dir := writeProject(t, files)
	if environ == nil {
		environ = map[string]string{}
	}
	plan, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: environ})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return plan
}

func TestHooks(t *testing.T) {
	plan := load(t, map[string]string{"compose.yaml": `
services:
  app:
    image: app:1
    user: "1000"
    post_start:
      - command: chown -R 1000 /data
        user: root
        privileged: true
        working_dir: /data
        environment:
          MODE: fix
          FROM_ENV:
          UNSET:
      - command: ["sh", "-c", "echo ready"]
    pre_stop:
      - command: [/bin/drain, --wait]
`}, map[string]string{"FROM_ENV": "yes"})
	app, _ := plan.Service("app")
	want := []Hook{
		{Command: []string{"chown", "-R", "1000", "/data"}, User: "root", Privileged: true, WorkingDir: "/data", Env: []string{"FROM_ENV=yes", "MODE=fix"}},
		{Command: []string{"sh", "-c", "echo ready"}},
	}
	if !reflect.DeepEqual(app.PostStart, want) {
		t.Errorf("post_start = %+v, want %+v", app.PostStart, want)
	}
	if want := []Hook{{Command: []string{"/bin/drain", "--wait"}}}; !reflect.DeepEqual(app.PreStop, want) {
		t.Errorf("pre_stop = %+v, want %+v", app.PreStop, want)
	}
	if len(plan.Warnings) != 0 {
		t.Errorf("warnings: %q", plan.Warnings)
	}
}

func TestHooksJudgedByPolicy(t *testing.T) {
	plan := load(t, map[string]string{"compose.yaml": `
services:
  app:
    image: app:1
    user: "1000"
    post_start:
      - command: [chown, "1000", /data]
        user: root
      - command: [x]
        privileged: true
    pre_stop:
      - command: [y]
        user: "1001"
`}, nil)
	no, yes := false, true
	vs := Check(plan, Policy{AllowPrivileged: &no, RunAsNonRoot: &yes})
	got := map[string]string{}
	for _, v := range vs {
		got[v.Field] = v.Rule
	}
	want := map[string]string{"post_start[0].user": "run_as_non_root", "post_start[1].privileged": "allow_privileged"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("violations %v, want fields and rules %v", vs, want)
	}
}

func TestVolumesFrom(t *testing.T) {
	plan := load(t, map[string]string{"compose.yaml": `
services:
  db:
    image: db:1
    volumes:
      - data:/var/lib/db
      - /var/cache/db
      - ./conf:/etc/db:ro
    tmpfs: [/run/db]
  backup:
    image: backup:1
    volumes_from: ["db:ro"]
    volumes:
      - ./backup-cache:/var/cache/db
  sidecar:
    image: side:1
    volumes_from: [backup]
  tools:
    image: tools:1
    volumes_from: ["db:rw"]
volumes:
  data: {}
`}, nil)
	dir := plan.WorkingDir
	// By target: the order is the runtime's (parents before what is
	// mounted inside them).
	byTarget := func(ms []MountSpec) []MountSpec {
		out := slices.Clone(ms)
		slices.SortFunc(out, func(a, b MountSpec) int { return strings.Compare(a.Target, b.Target) })
		return out
	}
	mounts := func(name string) []MountSpec {
		s, _ := plan.Service(name)
		return byTarget(s.Mounts)
	}
	wantBackup := []MountSpec{
		{Type: "bind", Source: filepath.Join(dir, "backup-cache"), Target: "/var/cache/db", CreateHostPath: true},
		{Type: "volume", Source: "data", Target: "/var/lib/db", ReadOnly: true},
		{Type: "bind", Source: filepath.Join(dir, "conf"), Target: "/etc/db", ReadOnly: true, CreateHostPath: true},
		{Type: "tmpfs", Target: "/run/db", ReadOnly: true},
	}
	wantBackup = byTarget(wantBackup)
	if got := mounts("backup"); !reflect.DeepEqual(got, wantBackup) {
		t.Errorf("backup's mounts:\n got %+v\nwant %+v", got, wantBackup)
	}
	// sidecar takes backup's mounts, those backup took from db included.
	if got := mounts("sidecar"); !reflect.DeepEqual(got, wantBackup) {
		t.Errorf("sidecar's mounts:\n got %+v\nwant %+v", got, wantBackup)
	}
	// :rw keeps db's own modes, and the anonymous volume is db's (shared).
	wantTools := []MountSpec{
		{Type: "volume", Source: "data", Target: "/var/lib/db"},
		{Type: "volume", Source: "anon-db-1", Target: "/var/cache/db"},
		{Type: "bind", Source: filepath.Join(dir, "conf"), Target: "/etc/db", ReadOnly: true, CreateHostPath: true},
		{Type: "tmpfs", Target: "/run/db"},
	}
	wantTools = byTarget(wantTools)
	if got := mounts("tools"); !reflect.DeepEqual(got, wantTools) {
		t.Errorf("tools' mounts:\n got %+v\nwant %+v", got, wantTools)
	}
	// The services start after the one they take volumes from.
	order := []string{}
	for _, s := range plan.Services {
		order = append(order, s.Name)
	}
	if want := []string{"db", "backup", "sidecar", "tools"}; !reflect.DeepEqual(order, want) {
		t.Errorf("start order %v, want %v", order, want)
	}
	if len(plan.Warnings) != 0 {
		t.Errorf("warnings: %q", plan.Warnings)
	}
}

func TestPIDNamespaces(t *testing.T) {
	const base = `
services:
  app:
    image: app:1
  debug:
    image: tools:1
    pid: service:app
  debug2:
    image: tools:1
    pid: service:debug
  top:
    image: tools:1
    pid: host
  spy:
    image: tools:1
    pid: service:top
  own:
    image: tools:1
`
	pids := func(plan *PodPlan) map[string]string {
		out := map[string]string{}
		for _, s := range plan.Services {
			out[s.Name] = s.PID
		}
		return out
	}
	plan := load(t, map[string]string{"compose.yaml": base}, nil)
	want := map[string]string{"app": "", "debug": "service:app", "debug2": "service:app", "top": PIDHost, "spy": PIDHost, "own": ""}
	if got := pids(plan); !reflect.DeepEqual(got, want) {
		t.Errorf("without share_pid: %v, want %v", got, want)
	}
	if len(plan.Warnings) != 0 {
		t.Errorf("warnings: %q", plan.Warnings)
	}
	debug, _ := plan.Service("debug")
	if len(debug.DependsOn) != 1 || debug.DependsOn[0].Service != "app" {
		t.Errorf("debug depends on %+v, want app (it starts after the service whose namespace it joins)", debug.DependsOn)
	}

	plan = load(t, map[string]string{"compose.yaml": base + "x-compod:\n  share_pid: true\n"}, nil)
	want = map[string]string{"app": PIDPod, "debug": PIDPod, "debug2": PIDPod, "top": PIDHost, "spy": PIDHost, "own": PIDPod}
	if got := pids(plan); !reflect.DeepEqual(got, want) {
		t.Errorf("with share_pid: %v, want %v", got, want)
	}

	// pid: host, also reached through service:NAME, is the policy's.
	vs := Check(plan, Policy{AllowedHostNamespaces: &[]string{"network"}})
	var denied []string
	for _, v := range vs {
		if v.Field == "pid" && v.Rule == "allowed_host_namespaces" {
			denied = append(denied, v.Service)
		}
	}
	if want := []string{"spy", "top"}; !reflect.DeepEqual(sortedCopy(denied), want) {
		t.Errorf("pid host denied for %v, want %v (violations %v)", denied, want, vs)
	}
	if vs := Check(plan, Policy{AllowedHostNamespaces: &[]string{"pid"}}); len(vs) != 0 {
		t.Errorf("pid allowed, yet: %v", vs)
	}
}
