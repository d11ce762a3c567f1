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
	_, err := ParsePolicy([]byte("allowed_sysctls: [net.*, kernel.shm*, \"*\", vm.max_map_count, \"ne*t\"]\nallowed_security_opt: [no-new-privileges:false, apparmor=unconfined, seccomp:unconfined]\n"))
	for _, want := range []string{`allowed_sysctls[3]: "vm.max_map_count"`, `allowed_sysctls[4]: "ne*t"`, `allowed_security_opt[1]: "apparmor=unconfined"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not contain %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "allowed_sysctls[0]") {
		t.Errorf("net.* refused: %v", err)
	}
}
