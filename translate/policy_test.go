package translate

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy([]byte(`
bind_mounts:
  allowed_prefixes: [/srv/data]
  denied_prefixes: [/srv/data/secrets]
allow_privileged: false
allowed_host_namespaces: []
allowed_cap_add: [net_admin, CAP_SYS_TIME]
allowed_devices: []
allowed_sysctls: []
allowed_security_opt: []
run_as_non_root: true
read_only_rootfs: true
images:
  allowed_prefixes: [registry.example.com/team]
  require_digest: true
max_per_service: {cpus: 2, memory: 1g, pids: 512}
max_per_pod: {cpus: 4.5, memory: 4294967296}
required_labels: [team]
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := *p.AllowedCapAdd; strings.Join(got, ",") != "CAP_NET_ADMIN,CAP_SYS_TIME" {
		t.Errorf("capabilities are canonicalized: %v", got)
	}
	if *p.MaxPerService.Memory != 1<<30 || *p.MaxPerPod.Memory != 4<<30 || *p.MaxPerPod.CPUs != 4.5 || p.MaxPerPod.Pids != nil {
		t.Errorf("limits: %+v %+v", p.MaxPerService, p.MaxPerPod)
	}
	if p.AllowedHostNamespaces == nil || len(*p.AllowedHostNamespaces) != 0 {
		t.Errorf("an empty list is set and allows nothing: %v", p.AllowedHostNamespaces)
	}

	empty, err := ParsePolicy(nil)
	if err != nil || empty.AllowPrivileged != nil || empty.BindMounts.AllowedPrefixes != nil {
		t.Errorf("an empty document is the empty policy: %+v, %v", empty, err)
	}

	for _, tc := range []struct{ doc, want string }{
		{"allow_privilegd: false\n", "allow_privilegd"},
		{"bind_mounts:\n  allowed: [/srv]\n", "allowed"},
		{"max_per_pod: {cpu: 1}\n", "cpu"},
		{"allowed_cap_add:\n", "allowed_cap_add has no value"},
		{"bind_mounts:\n  denied_prefixes: ~\n", "bind_mounts.denied_prefixes has no value"},
		{"allowed_cap_add: [SYS_ADMN]\n", `allowed_cap_add[0]: unknown capability "SYS_ADMN"`},
		{"allowed_host_namespaces: [net]\n", `allowed_host_namespaces[0]: unknown namespace "net"`},
		{"bind_mounts: {allowed_prefixes: [data]}\n", `bind_mounts.allowed_prefixes[0]: "data" is not an absolute path`},
		{"max_per_service: {memory: lots}\n", `"lots": want a size`},
		{"max_per_service: {cpus: 0}\n", "max_per_service.cpus: must be a positive number"},
		{"allow_privileged: maybe\n", "maybe"},
	} {
		_, err := ParsePolicy([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePolicy(%q) = %v, want an error saying %q", tc.doc, err, tc.want)
		}
	}
}

func TestLoadPolicyFileNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("privileged: false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadPolicyFile(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "privileged") {
		t.Errorf("LoadPolicyFile: %v", err)
	}
}

func TestPolicyOverlay(t *testing.T) {
	base := DefaultExecutorPolicy("/sandbox")
	op, err := ParsePolicy([]byte("allow_privileged: true\nbind_mounts: {denied_prefixes: [/etc]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := base.Overlay(op)
	if !*got.AllowPrivileged {
		t.Error("the operator's allow_privileged is not applied")
	}
	if got.BindMounts.AllowedPrefixes == nil || len(*got.BindMounts.AllowedPrefixes) != 0 {
		t.Errorf("a rule the operator does not set keeps the default: %v", got.BindMounts.AllowedPrefixes)
	}
	if strings.Join(*got.BindMounts.DeniedPrefixes, ",") != "/etc" || len(*got.AllowedCapAdd) != len(DockerDefaultCapabilities) {
		t.Errorf("overlay: %+v", got)
	}
	if strings.Join(got.AlwaysAllowedBindRoots, ",") != "/sandbox" {
		t.Errorf("the sandbox stays allowed: %v", got.AlwaysAllowedBindRoots)
	}
	if *base.AllowPrivileged {
		t.Error("Overlay changed its receiver")
	}
}

// TestPolicyDocExamples keeps docs/policy.md honest: every example loads,
// and the default it shows is DefaultExecutorPolicy.
func TestPolicyDocExamples(t *testing.T) {
	data, err := os.ReadFile("../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := 0
	for _, part := range strings.Split(string(data), "```")[1:] {
		lang, body, _ := strings.Cut(part, "\n")
		if lang != "yaml" && lang != "json" {
			continue
		}
		blocks++
		doc := []byte(body)
		if strings.Contains(body, "executor.yaml") {
			var cfg struct {
				Policy Policy `yaml:"policy"`
			}
			if err := yaml.Load(doc, &cfg, yaml.WithKnownFields()); err != nil {
				t.Errorf("config example:\n%s\n%v", body, err)
			}
			continue
		}
		p, err := ParsePolicy(doc)
		if err != nil {
			t.Errorf("example:\n%s\n%v", body, err)
			continue
		}
		if strings.Contains(body, "only the task sandbox") {
			want := DefaultExecutorPolicy("")
			want.AlwaysAllowedBindRoots = nil
			if !reflect.DeepEqual(p, want) {
				t.Errorf("docs/policy.md shows the default as\n%+v\nbut it is\n%+v", p, want)
			}
		}
	}
	if blocks < 4 {
		t.Errorf("found %d examples in docs/policy.md", blocks)
	}
}
