package translate

import (
	"fmt"
	"strconv"
	"strings"
)

// hooks judges a service's lifecycle hooks as the service itself is
// judged: a privileged hook by allow_privileged (it gets every
// capability), and a hook's own user by run_as_non_root (a hook must not
// be the way around it). A hook without user: runs as the service, which
// user() judged.
func (c *checker) hooks(s *ServiceSpec) {
	for _, set := range []struct {
		field string
		hooks []Hook
	}{{"post_start", s.PostStart}, {"pre_stop", s.PreStop}} {
		for i, h := range set.hooks {
			field := fmt.Sprintf("%s[%d]", set.field, i)
			if h.Privileged && c.p.AllowPrivileged != nil && !*c.p.AllowPrivileged {
				c.deny(s.Name, field+".privileged", "allow_privileged", "privileged hooks are not allowed")
			}
			if h.User == "" || c.p.RunAsNonRoot == nil || !*c.p.RunAsNonRoot {
				continue
			}
			u, _, _ := strings.Cut(h.User, ":")
			uid, err := strconv.ParseUint(u, 10, 32)
			switch {
			case u == "root" || (err == nil && uid == 0):
				c.deny(s.Name, field+".user", "run_as_non_root", "user %q runs as root (uid 0)", h.User)
			case err != nil:
				c.deny(s.Name, field+".user", "run_as_non_root", "user %q is a name, whose uid is known only from the image's /etc/passwd at run time: use a numeric uid other than 0", h.User)
			}
		}
	}
}
