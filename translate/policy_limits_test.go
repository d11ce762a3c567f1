package translate

import (
	"reflect"
	"strings"
	"testing"
)

// allowed_sysctls and allowed_security_opt judge what a service asks for.
func TestPolicySysctlsAndSecurityOpt(t *testing.T) {
	f := false
	tr := true
	for _, tc := range []struct {
		name string
		svc  ServiceSpec
		p    Policy
		want []string
	}{
		{name: "no rule: anything", svc: ServiceSpec{Sysctls: map[string]string{"net.core.somaxconn": "1"}, NoNewPrivileges: &f}, p: Policy{}},
		{name: "empty list: no sysctl", svc: ServiceSpec{Sysctls: map[string]string{"net.core.somaxconn": "1"}},
			p: Policy{AllowedSysctls: ptr([]string{})}, want: []string{"allowed_sysctls"}},
		{name: "exact name", svc: ServiceSpec{Sysctls: map[string]string{"net.core.somaxconn": "1", "kernel.shmmax": "2"}},
			p: Policy{AllowedSysctls: ptr([]string{"net.core.somaxconn"})}, want: []string{"allowed_sysctls"}},
		{name: "prefix", svc: ServiceSpec{Sysctls: map[string]string{"net.core.somaxconn": "1", "net.ipv4.ip_unprivileged_port_start": "80"}},
			p: Policy{AllowedSysctls: ptr([]string{"net.*"})}},
		{name: "star", svc: ServiceSpec{Sysctls: map[string]string{"kernel.sem": "1 2 3 4"}},
			p: Policy{AllowedSysctls: ptr([]string{"*"})}},
		{name: "no-new-privileges on is always allowed", svc: ServiceSpec{NoNewPrivileges: &tr},
			p: Policy{AllowedSecurityOpt: ptr([]string{})}},
		{name: "no-new-privileges:false refused", svc: ServiceSpec{NoNewPrivileges: &f},
			p: Policy{AllowedSecurityOpt: ptr([]string{})}, want: []string{"allowed_security_opt"}},
		{name: "no-new-privileges:false allowed", svc: ServiceSpec{NoNewPrivileges: &f},
			p: Policy{AllowedSecurityOpt: ptr([]string{"no-new-privileges=false"})}},
		{name: "seccomp unconfined refused", svc: ServiceSpec{SeccompUnconfined: true},
			p: Policy{AllowedSecurityOpt: ptr([]string{"no-new-privileges:false"})}, want: []string{"allowed_security_opt"}},
		{name: "seccomp unconfined allowed", svc: ServiceSpec{SeccompUnconfined: true},
			p: Policy{AllowedSecurityOpt: ptr([]string{"seccomp=unconfined"})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := judge(t, tc.svc, tc.p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("denied by %v, want %v", got, tc.want)
			}
		})
	}
}

// The executor's default policy refuses sysctls, naming the service and
// the sysctl.
func TestDefaultExecutorPolicyRefusesSysctls(t *testing.T) {
	plan := &PodPlan{Name: "p", Services: []ServiceSpec{{Name: "web", Image: "busybox", Sysctls: map[string]string{"net.core.somaxconn": "1024"}}}}
	vs := Check(plan, DefaultExecutorPolicy("/sandbox"))
	if len(vs) != 1 || vs[0].Field != "sysctls.net.core.somaxconn" || !strings.Contains(vs[0].Msg, "sysctl net.core.somaxconn is not allowed (no sysctls are allowed)") {
		t.Errorf("violations: %+v", vs)
	}
}

func TestPolicySysctlSpelling(t *testing.T) {
	_, err := ParsePolicy([]byte("allowed_sysctls: [net.*, kernel.shm*, \"*\", vm.max_map_count, \"ne*t\"]\nallowed_security_opt: [no-new-privileges:false, seccomp=other, seccomp:unconfined, apparmor=unconfined]\n"))
	for _, want := range []string{`allowed_sysctls[3]: "vm.max_map_count"`, `allowed_sysctls[4]: "ne*t"`, `allowed_security_opt[1]: "seccomp=other"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "allowed_sysctls[0]") {
		t.Errorf("net.* refused: %v", err)
	}
}

// A seccomp profile file and an AppArmor profile are judged by
// allowed_security_opt: seccomp=profile, apparmor=NAME or apparmor=*.
func TestPolicySeccompProfileAndAppArmor(t *testing.T) {
	svc := ServiceSpec{Name: "web", Image: "busybox", SeccompProfile: []byte(`{"defaultAction":"SCMP_ACT_ALLOW"}`), SeccompProfileFile: "open.json", AppArmorProfile: "docker-default"}
	plan := &PodPlan{Name: "p", Services: []ServiceSpec{svc}}
	vs := Check(plan, DefaultExecutorPolicy("/sandbox"))
	var msgs []string
	for _, v := range vs {
		msgs = append(msgs, v.Msg)
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"seccomp=open.json is not allowed", "apparmor=docker-default is not allowed"} {
		if !strings.Contains(all, want) {
			t.Errorf("the default policy's violations do not say %q:\n%s", want, all)
		}
	}
	for _, allow := range [][]string{{"seccomp=profile", "apparmor=docker-default"}, {"seccomp:profile", "apparmor=*"}} {
		p, err := ParsePolicy([]byte("allowed_security_opt: [\"" + strings.Join(allow, "\", \"") + "\"]\n"))
		if err != nil {
			t.Fatal(err)
		}
		if vs := Check(plan, p); len(vs) != 0 {
			t.Errorf("allowed_security_opt %v: violations %+v", allow, vs)
		}
	}
}
