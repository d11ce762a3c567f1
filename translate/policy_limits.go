package translate

import (
	"fmt"
	"slices"
	"strings"
)

// The policy's sysctls and security_opt rules.
//
// allowed_sysctls entries are sysctl names (net.core.somaxconn),
// prefixes ending in * (net.ipv4.*, net.*), or * for any. allowed_security_opt judges
// the options that loosen what compod does by default:
// no-new-privileges:false (no_new_privs is on unless a service turns it
// off) and seccomp=unconfined (no seccomp filter). no-new-privileges[:true] and label=disable are always allowed:
// the first tightens, the second changes nothing without SELinux.

// securityOptNewPrivileges is how allowed_security_opt spells turning
// no_new_privs off (docker's = spelling is accepted too).
const securityOptNewPrivileges = "no-new-privileges:false"

// securityOptUnconfined is how allowed_security_opt spells running
// without a seccomp filter.
const securityOptUnconfined = "seccomp=unconfined"

// securityOptProfile is how allowed_security_opt spells a seccomp
// profile of the file's own (seccomp=FILE): it may let anything through.
const securityOptProfile = "seccomp=profile"

// securityOptAppArmorAny allows every apparmor=NAME; apparmor=NAME
// allows that one.
const securityOptAppArmorAny = "apparmor=*"

// judgedSecurityOpts are the security_opt values allowed_security_opt
// may list, each with docker's other spelling.
var judgedSecurityOpts = map[string][]string{
	securityOptNewPrivileges: {securityOptNewPrivileges, "no-new-privileges=false"},
	securityOptUnconfined:    {securityOptUnconfined, "seccomp:unconfined"},
	securityOptProfile:       {securityOptProfile, "seccomp:profile"},
}

func (c *checker) sysctls(s *ServiceSpec) {
	if c.p.AllowedSysctls == nil {
		return
	}
	for _, k := range sortedKeys(s.Sysctls) {
		if !slices.ContainsFunc(*c.p.AllowedSysctls, func(a string) bool { return sysctlAllowedBy(k, a) }) {
			allowed := "no sysctls are allowed"
			if len(*c.p.AllowedSysctls) > 0 {
				allowed = "allowed: " + strings.Join(*c.p.AllowedSysctls, ", ")
			}
			c.deny(s.Name, "sysctls."+k, "allowed_sysctls", "sysctl %s is not allowed (%s)", k, allowed)
		}
	}
}

func sysctlAllowedBy(key, pattern string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(key, prefix)
	}
	return key == pattern
}

func (c *checker) securityOpt(s *ServiceSpec) {
	if c.p.AllowedSecurityOpt == nil {
		return
	}
	allowed := func(opt string) bool {
		return slices.ContainsFunc(*c.p.AllowedSecurityOpt, func(a string) bool { return slices.Contains(judgedSecurityOpts[opt], a) })
	}
	if s.NoNewPrivileges != nil && !*s.NoNewPrivileges && !allowed(securityOptNewPrivileges) {
		c.deny(s.Name, "security_opt", "allowed_security_opt", "%s is not allowed: setuid programs would gain privileges in the container", securityOptNewPrivileges)
	}
	if s.SeccompUnconfined && !allowed(securityOptUnconfined) {
		c.deny(s.Name, "security_opt", "allowed_security_opt", "%s is not allowed: every system call would reach the host's kernel unfiltered", securityOptUnconfined)
	}
	if len(s.SeccompProfile) > 0 && !allowed(securityOptProfile) {
		c.deny(s.Name, "security_opt", "allowed_security_opt", "seccomp=%s is not allowed: a profile of the file's own may let any system call through (allow %s)", s.SeccompProfileFile, securityOptProfile)
	}
	if a := s.AppArmorProfile; a != "" && !slices.ContainsFunc(*c.p.AllowedSecurityOpt, func(o string) bool { return o == securityOptAppArmorAny || o == "apparmor="+a || o == "apparmor:"+a }) {
		c.deny(s.Name, "security_opt", "allowed_security_opt", "apparmor=%s is not allowed (allow apparmor=%s or %s)", a, a, securityOptAppArmorAny)
	}
}

// validateLimitRules checks the spelling of allowed_sysctls and
// allowed_security_opt.
func (p *Policy) validateLimitRules(bad func(key, format string, args ...any)) {
	for i, k := range deref(p.AllowedSysctls) {
		name := strings.TrimSuffix(k, "*")
		if k == "*" {
			continue // every namespaced sysctl
		}
		if strings.Contains(name, "*") || !NamespacedSysctl(name) {
			bad(fmt.Sprintf("allowed_sysctls[%d]", i), "%q: want a namespaced sysctl (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*), a prefix of one ending in *, or *", k)
		}
	}
	for i, o := range deref(p.AllowedSecurityOpt) {
		if strings.HasPrefix(o, "apparmor=") || strings.HasPrefix(o, "apparmor:") {
			continue // a profile's name, or * for any
		}
		if !slices.ContainsFunc([]string{securityOptNewPrivileges, securityOptUnconfined, securityOptProfile}, func(j string) bool { return slices.Contains(judgedSecurityOpts[j], o) }) {
			bad(fmt.Sprintf("allowed_security_opt[%d]", i), "%q: only %s, %s, %s and apparmor=NAME (or %s) are judged (no-new-privileges[:true] and label=disable are always allowed; other options are refused by compod)", o, securityOptNewPrivileges, securityOptUnconfined, securityOptProfile, securityOptAppArmorAny)
		}
	}
}
