package translate

import (
	"fmt"
	"path"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"
)

// Hook is a compose lifecycle hook (post_start, pre_stop): a command the
// runtime execs in the service's running container, with the service's
// process settings (user, environment, working directory, capabilities)
// except those the hook sets.
type Hook struct {
	Command []string `json:"command"`
	// User replaces the service's user, resolved in the image as user: is.
	User string `json:"user,omitempty"`
	// Privileged gives the hook every capability (the admission policy's
	// allow_privileged judges it as it judges a privileged service).
	Privileged bool   `json:"privileged,omitempty"`
	WorkingDir string `json:"workingDir,omitempty"`
	// Env is set on top of the service's environment, as KEY=VALUE sorted
	// by key.
	Env []string `json:"env,omitempty"`
}

// hooks translates the post_start or pre_stop hooks of a service (field
// is the compose key).
func (t *translator) hooks(s *types.ServiceConfig, field string, hooks []types.ServiceHook) []Hook {
	var out []Hook
	for i, h := range hooks {
		f := fmt.Sprintf("%s[%d]", field, i)
		ok := true
		if len(h.Command) == 0 {
			t.fail(s.Name, f+".command", "a hook needs a command")
			ok = false
		}
		if h.WorkingDir != "" && !path.IsAbs(h.WorkingDir) {
			t.fail(s.Name, f+".working_dir", "%q is not an absolute path", h.WorkingDir)
			ok = false
		}
		if !ok {
			continue
		}
		out = append(out, Hook{
			Command:    append([]string{}, h.Command...),
			User:       h.User,
			Privileged: h.Privileged,
			WorkingDir: h.WorkingDir,
			Env:        t.hookEnv(h.Environment),
		})
	}
	return out
}

// hookEnv renders a hook's environment. A variable without a value takes
// the interpolation environment's, as a service's does, or stays unset.
func (t *translator) hookEnv(env types.MappingWithEquals) []string {
	var out []string
	for k, v := range env {
		switch {
		case v != nil:
			out = append(out, k+"="+*v)
		default:
			if val, ok := t.p.Environment[k]; ok {
				out = append(out, k+"="+val)
			}
		}
	}
	sort.Strings(out)
	return out
}
