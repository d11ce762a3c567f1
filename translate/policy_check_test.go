package translate

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func ptr[T any](v T) *T { return &v }

// judge checks one service against a policy and returns the rules that
// denied it.
func judge(t *testing.T, svc ServiceSpec, p Policy) []string {
	t.Helper()
	if svc.Name == "" {
		svc.Name = "web"
	}
	if svc.Image == "" {
		svc.Image = "busybox"
	}
	plan := &PodPlan{Name: "policy-test", Services: []ServiceSpec{svc}}
	var rules []string
	for _, v := range Check(plan, p) {
		rules = append(rules, v.Rule)
	}
	return rules
}

func TestPolicyRules(t *testing.T) {
	strict := Policy{
		AllowPrivileged: ptr(false),
		AllowedCapAdd:   ptr([]string{"NET_ADMIN"}),
		RunAsNonRoot:    ptr(true),
		ReadOnlyRootfs:  ptr(true),
		Images:          ImageRule{AllowedPrefixes: ptr([]string{"registry.example.com/team", "docker.io/library/busybox"}), RequireDigest: ptr(true)},
		MaxPerService:   Limits{CPUs: ptr(1.0), Memory: ptr(Bytes(256 << 20)), Pids: ptr(int64(100))},
		RequiredLabels:  ptr([]string{"team"}),
	}
	const digest = "@sha256:0123456789012345678901234567890123456789012345678901234567890123"
	// ok passes every rule of strict; each case changes one thing.
	ok := ServiceSpec{Image: "registry.example.com/team/app" + digest, User: "1000", ReadOnly: true,
		CPUs: 0.5, MemLimit: 128 << 20, PidsLimit: 50, Labels: map[string]string{"team": "a"}}
	with := func(f func(s *ServiceSpec)) ServiceSpec {
		s := ok
		s.Labels = map[string]string{"team": "a"}
		f(&s)
		return s
	}
	for _, tc := range []struct {
		name string
		svc  ServiceSpec
		p    Policy
		want []string
	}{
		{name: "all allowed", svc: ok, p: strict},
		{name: "empty policy allows everything", svc: ServiceSpec{Privileged: true, CapAdd: []string{"ALL"}, User: "root"}, p: Policy{}},

		{name: "privileged", svc: with(func(s *ServiceSpec) { s.Privileged = true }), p: strict, want: []string{"allow_privileged"}},
		{name: "privileged allowed", svc: with(func(s *ServiceSpec) { s.Privileged = true }), p: Policy{AllowPrivileged: ptr(true)}},

		{name: "cap allowed", svc: with(func(s *ServiceSpec) { s.CapAdd = []string{"CAP_NET_ADMIN"} }), p: strict},
		{name: "cap denied", svc: with(func(s *ServiceSpec) { s.CapAdd = []string{"CAP_NET_ADMIN", "CAP_SYS_ADMIN"} }), p: strict, want: []string{"allowed_cap_add"}},
		{name: "cap ALL denied", svc: with(func(s *ServiceSpec) { s.CapAdd = []string{"ALL"} }), p: strict, want: []string{"allowed_cap_add"}},
		{name: "ALL allows any", svc: ServiceSpec{CapAdd: []string{"CAP_SYS_ADMIN", "ALL"}}, p: Policy{AllowedCapAdd: ptr([]string{"all"})}},
		{name: "docker default set", svc: ServiceSpec{CapAdd: []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE"}}, p: DefaultExecutorPolicy("/sandbox")},
		{name: "beyond docker's set", svc: ServiceSpec{CapAdd: []string{"CAP_NET_ADMIN"}}, p: DefaultExecutorPolicy("/sandbox"), want: []string{"allowed_cap_add"}},

		{name: "user root", svc: with(func(s *ServiceSpec) { s.User = "root" }), p: strict, want: []string{"run_as_non_root"}},
		{name: "user 0", svc: with(func(s *ServiceSpec) { s.User = "0" }), p: strict, want: []string{"run_as_non_root"}},
		{name: "user 0:0", svc: with(func(s *ServiceSpec) { s.User = "0:0" }), p: strict, want: []string{"run_as_non_root"}},
		{name: "user 00:1000", svc: with(func(s *ServiceSpec) { s.User = "00:1000" }), p: strict, want: []string{"run_as_non_root"}},
		{name: "user root:users", svc: with(func(s *ServiceSpec) { s.User = "root:users" }), p: strict, want: []string{"run_as_non_root"}},
		{name: "user 1000:0", svc: with(func(s *ServiceSpec) { s.User = "1000:0" }), p: strict},
		{name: "user by name", svc: with(func(s *ServiceSpec) { s.User = "app" }), p: strict, want: []string{"run_as_non_root"}},
		{name: "image USER (no user:)", svc: with(func(s *ServiceSpec) { s.User = "" }), p: strict, want: []string{"run_as_non_root"}},
		{name: "root without the rule", svc: ServiceSpec{User: "0"}, p: Policy{RunAsNonRoot: ptr(false)}},

		{name: "writable rootfs", svc: with(func(s *ServiceSpec) { s.ReadOnly = false }), p: strict, want: []string{"read_only_rootfs"}},

		{name: "image from elsewhere", svc: with(func(s *ServiceSpec) { s.Image = "evil.example.com/team/app" + digest }), p: strict, want: []string{"images.allowed_prefixes"}},
		{name: "image prefix is by component", svc: with(func(s *ServiceSpec) { s.Image = "registry.example.com/teamevil/app" + digest }), p: strict, want: []string{"images.allowed_prefixes"}},
		{name: "short name normalized", svc: with(func(s *ServiceSpec) { s.Image = "busybox" + digest }), p: strict},
		{name: "short name of another repo", svc: with(func(s *ServiceSpec) { s.Image = "busyboxx" + digest }), p: strict, want: []string{"images.allowed_prefixes"}},
		{name: "tag without digest", svc: with(func(s *ServiceSpec) { s.Image = "registry.example.com/team/app:1" }), p: strict, want: []string{"images.require_digest"}},
		{name: "tag and digest", svc: with(func(s *ServiceSpec) { s.Image = "registry.example.com/team/app:1" + digest }), p: strict},

		{name: "cpus over", svc: with(func(s *ServiceSpec) { s.CPUs = 1.5 }), p: strict, want: []string{"max_per_service.cpus"}},
		{name: "cpus at the max", svc: with(func(s *ServiceSpec) { s.CPUs = 1 }), p: strict},
		{name: "no memory limit", svc: with(func(s *ServiceSpec) { s.MemLimit = 0 }), p: strict, want: []string{"max_per_service.memory"}},
		{name: "memory over", svc: with(func(s *ServiceSpec) { s.MemLimit = 512 << 20 }), p: strict, want: []string{"max_per_service.memory"}},
		{name: "pids over", svc: with(func(s *ServiceSpec) { s.PidsLimit = 101 }), p: strict, want: []string{"max_per_service.pids"}},

		{name: "label missing", svc: with(func(s *ServiceSpec) { s.Labels = nil }), p: strict, want: []string{"required_labels"}},

		{name: "every violation", p: strict, svc: ServiceSpec{Image: "nginx", User: "root", Privileged: true, CapAdd: []string{"CAP_SYS_ADMIN"}},
			want: []string{"allow_privileged", "allowed_cap_add", "run_as_non_root", "read_only_rootfs", "images.allowed_prefixes", "images.require_digest",
				"max_per_service.cpus", "max_per_service.memory", "max_per_service.pids", "required_labels"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := judge(t, tc.svc, tc.p)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("denied by %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPolicyPodLimits(t *testing.T) {
	p := Policy{MaxPerPod: Limits{CPUs: ptr(1.0), Memory: ptr(Bytes(1 << 30))}}
	plan := func(cpus ...float64) *PodPlan {
		pl := &PodPlan{Name: "pod"}
		for i, c := range cpus {
			pl.Services = append(pl.Services, ServiceSpec{Name: fmt.Sprintf("s%d", i), Image: "x", CPUs: c, MemLimit: 256 << 20})
		}
		return pl
	}
	if vs := Check(plan(0.5, 0.5), p); len(vs) != 0 {
		t.Errorf("0.5+0.5 CPUs: %v", vs)
	}
	vs := Check(plan(0.5, 0.75), p)
	if len(vs) != 1 || vs[0].Rule != "max_per_pod.cpus" || !strings.Contains(vs[0].Msg, "1.25 CPUs") {
		t.Errorf("0.5+0.75 CPUs: %v", vs)
	}
	vs = Check(plan(0.5, 0), p)
	if len(vs) != 1 || vs[0].Rule != "max_per_pod.cpus" || !strings.Contains(vs[0].Msg, "s1") {
		t.Errorf("a service without a CPU limit: %v", vs)
	}
}

func TestPolicyBindMounts(t *testing.T) {
	root := hostTree(t)
	sb := root + "/sandbox"
	executor := DefaultExecutorPolicy(sb)
	operator := executor.Overlay(Policy{BindMounts: BindMountRule{
		AllowedPrefixes: ptr([]string{root + "/outside/", "/etc/ssl"}),
		DeniedPrefixes:  ptr([]string{root, sb + "/data/sub", "/etc/ssl/private"}),
	}})
	for _, tc := range []struct {
		name        string
		p           Policy
		source      string
		wantRule    string
		wantMounted string // the source after Check
	}{
		{name: "in the sandbox", p: executor, source: sb + "/data", wantMounted: sb + "/data"},
		{name: "the sandbox itself, trailing slash", p: executor, source: sb + "/", wantMounted: sb},
		{name: "relative to the project", p: executor, source: "data", wantMounted: sb + "/data"},
		{name: "root", p: executor, source: "/", wantRule: "bind_mounts.allowed_prefixes", wantMounted: "/"},
		{name: "dotdot out of the sandbox", p: executor, source: sb + "/data/../../outside", wantRule: "bind_mounts.allowed_prefixes", wantMounted: root + "/outside"},
		{name: "symlink to /etc", p: executor, source: sb + "/etc", wantRule: "bind_mounts.allowed_prefixes", wantMounted: "/etc"},
		{name: "relative symlink out", p: executor, source: "up", wantRule: "bind_mounts.allowed_prefixes", wantMounted: root + "/outside"},
		{name: "dangling symlink", p: executor, source: sb + "/dangling", wantRule: "bind_mounts.allowed_prefixes", wantMounted: "/etc/compod-policy-absent"},
		{name: "symlink that stays inside", p: executor, source: sb + "/inside", wantMounted: sb + "/data/sub"},
		{name: "absent path in the sandbox", p: executor, source: sb + "/absent/", wantMounted: sb + "/absent"},

		{name: "deny wins over a narrower allow", p: operator, source: "up/x", wantRule: "bind_mounts.denied_prefixes", wantMounted: root + "/outside/x"},
		{name: "allowed by component", p: operator, source: "/etc/ssl/certs", wantMounted: "/etc/ssl/certs"},
		{name: "not a component match", p: operator, source: "/etc/sslx", wantRule: "bind_mounts.allowed_prefixes", wantMounted: "/etc/sslx"},
		{name: "deny wins over allow", p: operator, source: "/etc/ssl/private/key", wantRule: "bind_mounts.denied_prefixes", wantMounted: "/etc/ssl/private/key"},
		{name: "deny wins through a symlink", p: operator, source: sb + "/ssl/../private", wantRule: "bind_mounts.denied_prefixes", wantMounted: "/etc/ssl/private"},
		{name: "a denied ancestor of the sandbox does not deny it", p: operator, source: sb + "/data", wantMounted: sb + "/data"},
		{name: "a denied prefix inside the sandbox denies", p: operator, source: sb + "/inside", wantRule: "bind_mounts.denied_prefixes", wantMounted: sb + "/data/sub"},
		{name: "no rule: anything", p: Policy{}, source: sb + "/etc", wantMounted: "/etc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := &PodPlan{Name: "pod", WorkingDir: sb, Services: []ServiceSpec{{Name: "web", Image: "x",
				Mounts: []MountSpec{{Type: "tmpfs", Target: "/tmp"}, {Type: "bind", Source: tc.source, Target: "/data"}}}}}
			vs := Check(plan, tc.p)
			var rules []string
			for _, v := range vs {
				rules = append(rules, v.Rule)
				if v.Field != "volumes[1]" || v.Service != "web" {
					t.Errorf("violation names service %q field %q", v.Service, v.Field)
				}
			}
			want := []string{}
			if tc.wantRule != "" {
				want = []string{tc.wantRule}
			}
			if fmt.Sprint(rules) != fmt.Sprint(want) {
				t.Errorf("denied by %v, want %v (%v)", rules, want, vs)
			}
			if got := plan.Services[0].Mounts[1].Source; got != tc.wantMounted {
				t.Errorf("mounted source %q, want %q", got, tc.wantMounted)
			}
		})
	}
}

// TestPolicyViolationsNameTheirFile loads a real two-file project: every
// violation is listed, each naming the file that set the field.
func TestPolicyViolationsNameTheirFile(t *testing.T) {
	dir := writeProject(t, map[string]string{
		"compose.yaml": `services:
  web:
    image: busybox
    volumes: ["./data:/data", "/:/host"]
  db:
    image: busybox
`,
		"override.yaml": `services:
  web:
    privileged: true
  db:
    cap_add: [sys_admin]
`,
	})
	plan, err := Load(context.Background(), LoadOptions{Files: []string{dir + "/compose.yaml", dir + "/override.yaml"}, Environ: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	err = Admit(plan, DefaultExecutorPolicy(dir))
	if !IsPolicyError(err) {
		t.Fatalf("Admit: %v", err)
	}
	got := err.Error()
	for _, want := range []string{
		"pod pod is refused by the admission policy (3 violations):",
		`override.yaml: service "db": field "cap_add": adding capability CAP_SYS_ADMIN is not allowed (policy rule allowed_cap_add)`,
		`compose.yaml: service "web": field "volumes[1]": bind source / is not under an allowed prefix (no bind mounts are allowed; the task sandbox ` + dir + ` is always allowed) (policy rule bind_mounts.allowed_prefixes)`,
		`override.yaml: service "web": field "privileged": privileged services are not allowed (policy rule allow_privileged)`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("refusal does not say\n  %s\nit says:\n%s", want, got)
		}
	}
}
