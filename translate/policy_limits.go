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
// the one option that loosens what compod does by default:
// no-new-privileges:false (no_new_privs is on unless a service turns it
// off). no-new-privileges[:true] and label=disable are always allowed:
// the first tightens, the second changes nothing without SELinux.

// securityOptNewPrivileges is how allowed_security_opt spells turning
// no_new_privs off (docker's = spelling is accepted too).
const securityOptNewPrivileges = "no-new-privileges:false"

// judgedSecurityOpts are the security_opt values allowed_security_opt
// may list.
var judgedSecurityOpts = []string{securityOptNewPrivileges, "no-new-privileges=false"}

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
	if c.p.AllowedSecurityOpt == nil || s.NoNewPrivileges == nil || *s.NoNewPrivileges {
		return
	}
	if !slices.ContainsFunc(*c.p.AllowedSecurityOpt, func(a string) bool { return slices.Contains(judgedSecurityOpts, a) }) {
		c.deny(s.Name, "security_opt", "allowed_security_opt", "%s is not allowed: setuid programs would gain privileges in the container", securityOptNewPrivileges)
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
		if !slices.Contains(judgedSecurityOpts, o) {
			bad(fmt.Sprintf("allowed_security_opt[%d]", i), "%q: only %s is judged (no-new-privileges[:true] and label=disable are always allowed; other options are refused by compod)", o, securityOptNewPrivileges)
		}
	}
}
