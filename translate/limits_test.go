package translate

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const limitsService = "services:\n  web:\n    image: web:1\n"

var yes, no = true, false

func wantNNP(t *testing.T, s *ServiceSpec, want *bool) {
	t.Helper()
	switch got := s.NoNewPrivileges; {
	case got == nil && want == nil:
	case got == nil || want == nil || *got != *want:
		t.Errorf("noNewPrivileges = %v, want %v", fmtBoolPtr(got), fmtBoolPtr(want))
	}
}

func fmtBoolPtr(b *bool) string {
	if b == nil {
		return "unset"
	}
	return fmt.Sprint(*b)
}

// ulimits, shm_size, sysctls and security_opt as a user writes them, and
// what the plan then asks the runtime for.
func TestServiceLimits(t *testing.T) {
	tests := []struct {
		name, service string
		check         func(t *testing.T, s *ServiceSpec)
	}{
		{name: "ulimit single number", service: "    ulimits:\n      nofile: 65536\n",
			check: func(t *testing.T, s *ServiceSpec) {
				want := []Ulimit{{Name: "nofile", Soft: 65536, Hard: 65536}}
				if !reflect.DeepEqual(s.Ulimits, want) {
					t.Errorf("ulimits = %+v, want %+v", s.Ulimits, want)
				}
			}},
		{name: "ulimits soft and hard, unlimited", service: "    ulimits:\n      nofile: {soft: 1024, hard: 4096}\n      memlock: -1\n      nproc: {soft: 100, hard: -1}\n",
			check: func(t *testing.T, s *ServiceSpec) {
				want := []Ulimit{{Name: "memlock", Soft: -1, Hard: -1}, {Name: "nofile", Soft: 1024, Hard: 4096}, {Name: "nproc", Soft: 100, Hard: -1}}
				if !reflect.DeepEqual(s.Ulimits, want) {
					t.Errorf("ulimits = %+v, want %+v", s.Ulimits, want)
				}
			}},
		{name: "shm_size in docker units", service: "    shm_size: 256m\n",
			check: func(t *testing.T, s *ServiceSpec) {
				if s.ShmSize != 256<<20 {
					t.Errorf("shmSize = %d, want %d", s.ShmSize, 256<<20)
				}
			}},
		{name: "sysctls map", service: "    sysctls:\n      net.core.somaxconn: 1024\n      kernel.shmmax: \"68719476736\"\n      fs.mqueue.msg_max: 20\n      kernel.sem: \"250 32000 100 128\"\n",
			check: func(t *testing.T, s *ServiceSpec) {
				want := map[string]string{"net.core.somaxconn": "1024", "kernel.shmmax": "68719476736", "fs.mqueue.msg_max": "20", "kernel.sem": "250 32000 100 128"}
				if !reflect.DeepEqual(s.Sysctls, want) {
					t.Errorf("sysctls = %v, want %v", s.Sysctls, want)
				}
			}},
		{name: "sysctls list", service: "    sysctls:\n      - net.ipv4.ip_unprivileged_port_start=80\n      - kernel.msgmax=65536\n",
			check: func(t *testing.T, s *ServiceSpec) {
				want := map[string]string{"net.ipv4.ip_unprivileged_port_start": "80", "kernel.msgmax": "65536"}
				if !reflect.DeepEqual(s.Sysctls, want) {
					t.Errorf("sysctls = %v, want %v", s.Sysctls, want)
				}
			}},
		{name: "no security_opt: the runtime's default", service: "",
			check: func(t *testing.T, s *ServiceSpec) { wantNNP(t, s, nil) }},
		{name: "no-new-privileges", service: "    security_opt: [no-new-privileges]\n",
			check: func(t *testing.T, s *ServiceSpec) { wantNNP(t, s, &yes) }},
		{name: "no-new-privileges:true and label:disable", service: "    security_opt: [\"label:disable\", \"no-new-privileges:true\"]\n",
			check: func(t *testing.T, s *ServiceSpec) { wantNNP(t, s, &yes) }},
		{name: "no-new-privileges=false, label=disable", service: "    security_opt: [\"no-new-privileges=false\", \"label=disable\"]\n",
			check: func(t *testing.T, s *ServiceSpec) { wantNNP(t, s, &no) }},
		{name: "seccomp unconfined", service: "    security_opt: [\"seccomp:unconfined\"]\n",
			check: func(t *testing.T, s *ServiceSpec) {
				if !s.SeccompUnconfined {
					t.Error("seccompUnconfined is false")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := loadOne(t, limitsService+tt.service)
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.Warnings) > 0 {
				t.Errorf("warnings: %q", plan.Warnings)
			}
			tt.check(t, &plan.Services[0])
		})
	}
}

// Values compod refuses: each error names the file, the service and the
// field (down to the ulimit, sysctl or option).
func TestServiceLimitsRejected(t *testing.T) {
	tests := []struct {
		name, compose, service, field, msg string
	}{
		{name: "unknown ulimit", compose: limitsService + "    ulimits:\n      nofiles: 10\n",
			service: "web", field: "ulimits.nofiles", msg: `unknown ulimit "nofiles": use one of as, core`},
		{name: "soft above hard", compose: limitsService + "    ulimits:\n      nofile: {soft: 4096, hard: 1024}\n",
			service: "web", field: "ulimits.nofile", msg: "soft limit 4096 is greater than the hard limit 1024"},
		{name: "unlimited soft above hard", compose: limitsService + "    ulimits:\n      nofile: {soft: -1, hard: 1024}\n",
			service: "web", field: "ulimits.nofile", msg: "soft limit unlimited (-1) is greater than the hard limit 1024"},
		{name: "host sysctl", compose: limitsService + "    sysctls:\n      vm.max_map_count: 262144\n",
			service: "web", field: "sysctls.vm.max_map_count", msg: "vm.max_map_count is not namespaced: it would change the host"},
		{name: "host kernel sysctl", compose: limitsService + "    sysctls: [kernel.pid_max=100000]\n",
			service: "web", field: "sysctls.kernel.pid_max", msg: "kernel.pid_max is not namespaced"},
		{name: "conflicting net sysctl", compose: limitsService + "    sysctls: [net.core.somaxconn=1024]\n  api:\n    image: api:1\n    sysctls: [net.core.somaxconn=4096]\n",
			service: "web", field: "sysctls.net.core.somaxconn", msg: `"1024" conflicts with service "api"'s "4096"`},
		{name: "seccomp file", compose: limitsService + "    security_opt: [\"seccomp:./profile.json\"]\n",
			service: "web", field: "security_opt[0]", msg: "reading the seccomp profile: open"},
		{name: "selinux label", compose: limitsService + "    security_opt: [\"label=type:svirt_apache_t\"]\n",
			service: "web", field: "security_opt[0]", msg: "SELinux labels are not supported"},
		{name: "bad no-new-privileges", compose: limitsService + "    security_opt: [\"no-new-privileges:yes\"]\n",
			service: "web", field: "security_opt[0]", msg: "no-new-privileges takes true or false"},
		{name: "unknown option", compose: limitsService + "    security_opt: [systempaths=unconfined]\n",
			service: "web", field: "security_opt[0]", msg: `"systempaths=unconfined" is not a supported security option`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeProject(t, map[string]string{"compose.yaml": tt.compose})
			plan, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: map[string]string{}})
			if err == nil {
				t.Fatalf("Load succeeded, want an error; plan: %+v", plan)
			}
			want := `compose.yaml: service "` + tt.service + `": field "` + tt.field + `": `
			for _, e := range allErrors(err) {
				if strings.HasPrefix(e.Error(), want) && strings.Contains(e.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("no error reads %q…%q; got:\n%v", want, tt.msg, err)
		})
	}
}

// A sysctl set by several services with one value is set once for the pod.
func TestPodSysctls(t *testing.T) {
	plan, err := loadOne(t, limitsService+"    sysctls: [net.core.somaxconn=1024, kernel.shmmni=8192]\n  api:\n    image: api:1\n    sysctls: [net.core.somaxconn=1024, net.ipv4.tcp_keepalive_time=60]\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"net.core.somaxconn": "1024", "kernel.shmmni": "8192", "net.ipv4.tcp_keepalive_time": "60"}
	if got := plan.PodSysctls(); !reflect.DeepEqual(got, want) {
		t.Errorf("PodSysctls() = %v, want %v", got, want)
	}
}
