package translate

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestProcessEnvironmentByDefault(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml": "services:\n  web:\n    image: web:${COMPOD_TEST_TAG}\n",
		".env":         "COMPOD_TEST_TAG=from-dotenv\n",
	})
	t.Setenv("COMPOD_TEST_TAG", "from-process")
	plan, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.Services[0].Image; got != "web:from-process" {
		t.Errorf("image = %q, want the process environment to win over .env", got)
	}
}

// TestWorkingDir: relative paths resolve against the project directory,
// not against the compose file's directory, as in docker compose.
func TestWorkingDir(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"files/compose.yaml": "services:\n  web:\n    image: web:${TAG}\n    volumes: [./data:/data]\n",
		"project/.env":       "TAG=2\n",
	})
	plan, err := Load(context.Background(), LoadOptions{
		Files:      []string{filepath.Join(dir, "files", "compose.yaml")},
		WorkingDir: filepath.Join(dir, "project"),
		Environ:    map[string]string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if plan.WorkingDir != filepath.Join(dir, "project") || plan.Name != "project" {
		t.Errorf("working dir %q, name %q", plan.WorkingDir, plan.Name)
	}
	if got := plan.Services[0].Mounts[0].Source; got != filepath.Join(dir, "project", "data") {
		t.Errorf("bind source = %q", got)
	}
	if got := plan.Services[0].Image; got != "web:2" {
		t.Errorf("image = %q: .env of the project directory not used", got)
	}
}

func TestProjectNames(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: web\n"})
	load := func(name string, environ map[string]string) (*PodPlan, error) {
		return Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, ProjectName: name, Environ: environ})
	}
	for _, bad := range []string{"Web", "-web", "web.1", "my pod", strings.Repeat("a", 41)} {
		if _, err := load(bad, map[string]string{}); err == nil {
			t.Errorf("project name %q accepted", bad)
		}
	}
	for _, good := range []string{"web", "0web", "my_pod-2", strings.Repeat("a", 40)} {
		plan, err := load(good, map[string]string{})
		if err != nil {
			t.Errorf("project name %q: %v", good, err)
		} else if plan.Name != good || plan.Hostname != good {
			t.Errorf("name %q, hostname %q, want %q", plan.Name, plan.Hostname, good)
		}
	}
	plan, err := load("", map[string]string{"COMPOSE_PROJECT_NAME": "fromenv"})
	if err != nil || plan.Name != "fromenv" {
		t.Errorf("COMPOSE_PROJECT_NAME: %v, %+v", err, plan)
	}
}

func TestAllErrorsReported(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": `services:
  a:
    image: a
    stop_signal: NOPE
    restart: sometimes
  b:
    build: .
    network_mode: bridge
`})
	_, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: map[string]string{}})
	var got []string
	for _, e := range allErrors(err) {
		got = append(got, e.Service+"/"+e.Field)
	}
	want := []string{"a/stop_signal", "a/restart", "b/build", "b/network_mode"}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("missing error %s; got %v", w, got)
		}
	}
}

func TestIncludeAndNetworkModeService(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml":    "include: [db/compose.yaml]\nservices:\n  web:\n    image: web\n    network_mode: service:db\n",
		"db/compose.yaml": "services:\n  db:\n    image: db\n    volumes: [./data:/data]\n",
	})
	plan, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Services) != 2 || plan.Services[0].Name != "db" {
		t.Fatalf("services %+v: want db (included) first, web depends on it through network_mode", plan.Services)
	}
	if got := plan.Services[0].Mounts[0].Source; got != filepath.Join(dir, "db", "data") {
		t.Errorf("included file's bind source = %q, want it relative to the included file", got)
	}
	if !slices.ContainsFunc(plan.Warnings, func(w string) bool {
		return strings.HasPrefix(w, `compose.yaml: service "web": field "network_mode": `)
	}) {
		t.Errorf("no network_mode warning in %q", plan.Warnings)
	}
}

func TestComposeProfilesFromEnvironment(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml": "services:\n  web:\n    image: web\n  debug:\n    image: debug\n    profiles: [debug]\n",
		".env":         "COMPOSE_PROFILES=debug\n",
	})
	plan, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := plan.Service("debug"); !ok {
		t.Errorf("COMPOSE_PROFILES from .env not honoured: %+v", plan.Services)
	}
	plan, err = Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: map[string]string{}, Profiles: []string{"other"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := plan.Service("debug"); ok {
		t.Errorf("explicit profiles must win over COMPOSE_PROFILES")
	}
}

// compose-go's own warnings (logged, without a location, some twice)
// become the plan's warnings: located, each once.
func TestComposeWarningsLocatedOnce(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml":  "version: \"3.8\"\nservices:\n  web:\n    image: \"web:${TAG}\"\n    environment:\n      URL: \"http://$HOST/x\"\n",
		"override.yaml": "version: \"3.8\"\nservices:\n  web:\n    labels: [\"tag=${TAG}\"]\n",
	})
	plan, err := Load(context.Background(), LoadOptions{
		Files:   []string{filepath.Join(dir, "compose.yaml"), filepath.Join(dir, "override.yaml")},
		Environ: map[string]string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	count := func(sub string) (n int) {
		for _, w := range plan.Warnings {
			if strings.Contains(w, sub) {
				n++
			}
		}
		return n
	}
	for sub, want := range map[string]int{
		`override.yaml: service "web": field "labels[0]": variable TAG is not set`:       1,
		`compose.yaml: service "web": field "environment.URL": variable HOST is not set`: 1,
		"variable TAG":                            1,
		`compose.yaml: field "version": ignored`:  1,
		`override.yaml: field "version": ignored`: 1,
		"obsolete, it will be ignored":            0, // compose-go's own wording, replaced
	} {
		if got := count(sub); got != want {
			t.Errorf("%d warnings with %q, want %d:\n%s", got, sub, want, strings.Join(plan.Warnings, "\n"))
		}
	}
}
