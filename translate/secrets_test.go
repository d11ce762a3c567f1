package translate

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Secrets and configs become file mounts with docker compose's targets and
// defaults; the content of environment and inline sources is captured.
func TestSecretsAndConfigs(t *testing.T) {
	const compose = `
services:
  web:
    image: web:1
    secrets:
      - db_password
      - source: api_key
        target: keys/api
        uid: "1000"
        gid: "1000"
        mode: 0440
      - source: db_password
        target: /etc/db/password
    configs:
      - app_conf
      - source: motd
        target: etc/motd
        mode: 0400
secrets:
  db_password:
    file: ./db_password.txt
  api_key:
    environment: API_KEY
configs:
  app_conf:
    file: ./conf/app.ini
  motd:
    content: "hello ${WHO}"
`
	dir := writeProject(t, map[string]string{"compose.yaml": compose, "db_password.txt": "s3cret", "conf/app.ini": "[app]\n"})
	plan, err := Load(context.Background(), LoadOptions{
		Files:   []string{filepath.Join(dir, "compose.yaml")},
		Environ: map[string]string{"API_KEY": "k-123", "WHO": "world"},
	})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []FileMount{
		{Kind: "secret", Name: "db_password", File: filepath.Join(dir, "db_password.txt"), Target: "/run/secrets/db_password", Mode: 0o444},
		{Kind: "secret", Name: "api_key", Content: "k-123", Target: "/run/secrets/keys/api", UID: 1000, GID: 1000, Mode: 0o440},
		{Kind: "secret", Name: "db_password", File: filepath.Join(dir, "db_password.txt"), Target: "/etc/db/password", Mode: 0o444},
		{Kind: "config", Name: "app_conf", File: filepath.Join(dir, "conf", "app.ini"), Target: "/app_conf", Mode: 0o444},
		{Kind: "config", Name: "motd", Content: "hello world", Target: "/etc/motd", Mode: 0o400},
	}
	if got := plan.Services[0].FileMounts; !reflect.DeepEqual(got, want) {
		t.Errorf("file mounts:\n got  %+v\n want %+v", got, want)
	}
	if len(plan.Warnings) != 0 {
		t.Errorf("warnings: %v", plan.Warnings)
	}
}

// An empty variable is a value (an empty secret), not an unset one.
func TestSecretFromEmptyVariable(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: web:1\n    secrets: [tok]\nsecrets:\n  tok:\n    environment: TOK\n"})
	plan, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: map[string]string{"TOK": ""}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if fm := plan.Services[0].FileMounts; len(fm) != 1 || fm[0].Content != "" || fm[0].File != "" {
		t.Errorf("file mounts: %+v", fm)
	}
}

// Swarm-only settings of a secret are warned about, naming the field.
func TestSecretSwarmSettingsWarned(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml": "services:\n  web:\n    image: web:1\nsecrets:\n  tok:\n    file: tok\n    driver: vault\n    template_driver: golang\n    labels: {a: b}\n",
		"tok":          "x",
	})
	plan, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: map[string]string{}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	all := strings.Join(plan.Warnings, "\n")
	for _, want := range []string{`field "secrets.tok.driver": ignored: swarm-only`, `field "secrets.tok.template_driver": ignored`, `field "secrets.tok.labels": ignored`} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
}

// A secret's or config's file is read by compod as root and shown to the
// service: the admission policy judges it as a bind source, on its
// resolved path.
func TestPolicySecretFiles(t *testing.T) {
	root := hostTree(t)
	sb := root + "/sandbox"
	for _, tc := range []struct {
		name, source, wantRule, wantFile string
	}{
		{name: "in the sandbox", source: sb + "/data", wantFile: sb + "/data"},
		{name: "host file", source: "/etc/passwd", wantRule: "bind_mounts.allowed_prefixes", wantFile: "/etc/passwd"},
		{name: "symlink out of the sandbox", source: sb + "/etc", wantRule: "bind_mounts.allowed_prefixes", wantFile: "/etc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := &PodPlan{Name: "pod", WorkingDir: sb, Services: []ServiceSpec{{Name: "web", Image: "x",
				FileMounts: []FileMount{{Kind: "config", Name: "c", Content: "x", Target: "/c"}, {Kind: "secret", Name: "s", File: tc.source, Target: "/run/secrets/s"}}}}}
			vs := Check(plan, DefaultExecutorPolicy(sb))
			var rules []string
			for _, v := range vs {
				rules = append(rules, v.Rule)
				if v.Field != "secrets[0]" || v.Service != "web" || !strings.Contains(v.Msg, "secret file") {
					t.Errorf("violation names service %q field %q: %s", v.Service, v.Field, v.Msg)
				}
			}
			want := []string{}
			if tc.wantRule != "" {
				want = []string{tc.wantRule}
			}
			if strings.Join(rules, ",") != strings.Join(want, ",") {
				t.Errorf("denied by %v, want %v (%v)", rules, want, vs)
			}
			if got := plan.Services[0].FileMounts[1].File; got != tc.wantFile {
				t.Errorf("file %q, want %q", got, tc.wantFile)
			}
		})
	}
}
