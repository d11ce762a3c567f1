package translate

import (
	"fmt"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Ulimit is one compose ulimit: an OCI process rlimit. -1 is unlimited.
type Ulimit struct {
	// Name is docker's name (nofile, nproc, ...): RLIMIT_<NAME> in OCI.
	Name string `json:"name"`
	Soft int64  `json:"soft"`
	Hard int64  `json:"hard"`
}

// ulimitNames are the ulimits docker knows (go-units' names): each is the
// rlimit RLIMIT_<upper-case name>.
var ulimitNames = map[string]bool{
	"as": true, "core": true, "cpu": true, "data": true, "fsize": true,
	"locks": true, "memlock": true, "msgqueue": true, "nice": true,
	"nofile": true, "nproc": true, "rss": true, "rtprio": true,
	"rttime": true, "sigpending": true, "stack": true,
}

// limits translates ulimits, shm_size, sysctls and security_opt.
func (t *translator) limits(s *types.ServiceConfig, spec *ServiceSpec) {
	spec.Ulimits = t.ulimits(s)
	if s.ShmSize < 0 {
		t.fail(s.Name, "shm_size", "must not be negative")
	}
	spec.ShmSize = int64(s.ShmSize)
	spec.Sysctls = t.sysctls(s)
	spec.NoNewPrivileges, spec.SeccompUnconfined = t.securityOpt(s, spec)
}

func (t *translator) ulimits(s *types.ServiceConfig) []Ulimit {
	var out []Ulimit
	for _, name := range sortedKeys(s.Ulimits) {
		u := s.Ulimits[name]
		field := "ulimits." + name
		if !ulimitNames[name] {
			t.fail(s.Name, field, "unknown ulimit %q: use one of %s", name, strings.Join(sortedKeys(ulimitNames), ", "))
			continue
		}
		if u == nil {
			t.fail(s.Name, field, "no value: give a number or soft: and hard:")
			continue
		}
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		if soft < -1 || hard < -1 {
			t.fail(s.Name, field, "%d is not a limit: use a number ≥ 0, or -1 for unlimited", min(soft, hard))
			continue
		}
		if rlimitGreater(soft, hard) {
			t.fail(s.Name, field, "soft limit %s is greater than the hard limit %s", ulimitString(soft), ulimitString(hard))
			continue
		}
		out = append(out, Ulimit{Name: name, Soft: soft, Hard: hard})
	}
	return out
}

// rlimitGreater compares limits where -1 is infinity.
func rlimitGreater(a, b int64) bool {
	switch {
	case b == -1:
		return false
	case a == -1:
		return true
	}
	return a > b
}

func ulimitString(v int64) string {
	if v == -1 {
		return "unlimited (-1)"
	}
	return fmt.Sprint(v)
}

// NamespacedSysctl says whether a sysctl belongs to a namespace the pod
// owns (network or IPC), as docker's list: any other sysctl would change
// the host. All of them are pod-wide: the services share the pod's
// network and IPC namespaces.
func NamespacedSysctl(key string) bool {
	switch {
	case strings.HasPrefix(key, "net."), strings.HasPrefix(key, "fs.mqueue."),
		strings.HasPrefix(key, "kernel.shm"), strings.HasPrefix(key, "kernel.msg"),
		key == "kernel.sem":
		return true
	}
	return false
}

func (t *translator) sysctls(s *types.ServiceConfig) map[string]string {
	if len(s.Sysctls) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, k := range sortedKeys(s.Sysctls) {
		field := "sysctls." + k
		switch {
		case !NamespacedSysctl(k):
			t.fail(s.Name, field, "%s is not namespaced: it would change the host; only net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.* may be set", k)
		case strings.ContainsAny(k, "/ ") || strings.Contains(k, ".."):
			t.fail(s.Name, field, "%q is not a sysctl name", k)
		default:
			out[k] = s.Sysctls[k]
		}
	}
	return out
}

// checkSysctlConflicts: the services share the pod's network and IPC
// namespaces, so a sysctl is set once for the whole pod; two services
// that set it differently cannot both have their way.
func (t *translator) checkSysctlConflicts(services []ServiceSpec) {
	first := map[string]*ServiceSpec{}
	for i := range services {
		s := &services[i]
		for _, k := range sortedKeys(s.Sysctls) {
			prev, ok := first[k]
			if !ok {
				first[k] = s
				continue
			}
			if prev.Sysctls[k] != s.Sysctls[k] {
				t.fail(s.Name, "sysctls."+k, "%q conflicts with service %q's %q: the services of a pod share its network and IPC namespaces, so the pod has one value; set the same value in both", s.Sysctls[k], prev.Name, prev.Sysctls[k])
			}
		}
	}
}

// securityOpt accepts the options that compod can honour or that mean
// nothing without SELinux, and returns no-new-privileges (nil: not set)
// and seccomp=unconfined.
func (t *translator) securityOpt(s *types.ServiceConfig, spec *ServiceSpec) (nnp *bool, unconfined bool) {
	for i, opt := range s.SecurityOpt {
		field := fmt.Sprintf("security_opt[%d]", i)
		// docker accepts key=value and the older key:value.
		key, value, hasValue := strings.Cut(opt, "=")
		if !hasValue {
			key, value, hasValue = strings.Cut(opt, ":")
		}
		switch key {
		case "no-new-privileges":
			switch {
			case !hasValue || value == "true":
				nnp = new(bool)
				*nnp = true
			case value == "false":
				nnp = new(bool)
			default:
				t.fail(s.Name, field, "%q: no-new-privileges takes true or false", opt)
			}
		case "label":
			if value != "disable" {
				t.fail(s.Name, field, "%q: SELinux labels are not supported (compod runs without SELinux); only label=disable is accepted", opt)
			}
			// label=disable: there is no SELinux labelling to disable.
		case "seccomp":
			switch {
			case value == "unconfined":
				unconfined = true
			case value == "" || !hasValue:
				t.fail(s.Name, field, "%q: name a profile file (seccomp=profile.json) or seccomp=unconfined", opt)
			default:
				spec.SeccompProfile = t.loadSeccompProfile(s.Name, field, value)
				spec.SeccompProfileFile = value
			}
		case "apparmor":
			if value == "" || !hasValue {
				t.fail(s.Name, field, "%q: name an AppArmor profile (apparmor=NAME) or apparmor=unconfined", opt)
				break
			}
			spec.AppArmorProfile = value
		default:
			t.fail(s.Name, field, "%q is not a supported security option: use no-new-privileges[:true|false], seccomp=unconfined or seccomp=FILE, apparmor=NAME, or label=disable", opt)
		}
	}
	return nnp, unconfined
}

// PodSysctls are the sysctls of every service of the pod, merged: the
// pod's network and IPC namespaces are shared, so they are set once, in
// the namespaces' owner. translate refuses conflicting values; a plan
// changed since (by a plugin) keeps the first service's value.
func (p *PodPlan) PodSysctls() map[string]string {
	var out map[string]string
	for _, s := range p.Services {
		for k, v := range s.Sysctls {
			if out == nil {
				out = map[string]string{}
			}
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
	}
	return out
}
