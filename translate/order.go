package translate

import (
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// dependencies translates depends_on. A dependency on a service that is
// not in the pod is an error when it is required and dropped (with a
// warning) when it is not, as in docker compose.
func (t *translator) dependencies(s *types.ServiceConfig) []Dependency {
	names := make([]string, 0, len(s.DependsOn))
	for n := range s.DependsOn {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Dependency
	for _, dep := range names {
		d := s.DependsOn[dep]
		field := "depends_on." + dep
		if _, ok := t.p.Services[dep]; !ok {
			_, disabled := t.p.DisabledServices[dep]
			switch {
			case d.Required && disabled:
				t.fail(s.Name, field, "depends on service %q, which is not enabled: enable one of its profiles %v", dep, t.p.DisabledServices[dep].Profiles)
			case d.Required:
				t.fail(s.Name, field, "depends on undefined service %q", dep)
			default:
				t.warn(s.Name, field, "optional dependency on %q dropped: the service is not in the pod", dep)
			}
			continue
		}
		cond := d.Condition
		if cond == "" {
			cond = types.ServiceConditionStarted
		}
		switch cond {
		case types.ServiceConditionStarted, types.ServiceConditionHealthy, types.ServiceConditionCompletedSuccessfully:
		default:
			t.fail(s.Name, field, "unknown condition %q: use service_started, service_healthy or service_completed_successfully", cond)
		}
		if d.Restart && !linksTo(s.Links, dep) && !joinsNamespaceOf(s, dep) {
			t.warn(s.Name, field+".restart", "ignored: compod does not restart a service when its dependency restarts")
		}
		out = append(out, Dependency{Service: dep, Condition: cond, Required: d.Required})
	}
	return out
}

// linksTo reports whether links: names dep; compose-go turns links into
// depends_on entries with restart: true, which the user did not write.
func linksTo(links []string, dep string) bool {
	for _, l := range links {
		if name, _, _ := strings.Cut(l, ":"); name == dep {
			return true
		}
	}
	return false
}

// joinsNamespaceOf reports whether a namespace mode of the service names
// dep (pid: service:dep, ...): compose-go adds a depends_on entry with
// restart: true for it, which the user did not write either.
func joinsNamespaceOf(s *types.ServiceConfig, dep string) bool {
	for _, mode := range []string{s.NetworkMode, s.Pid, s.Ipc, s.Uts, s.Cgroup} {
		if mode == types.ServicePrefix+dep {
			return true
		}
	}
	return false
}

// order sorts the services so that each comes after its dependencies,
// taking the alphabetically first ready service at each step so the order
// is stable. A cycle is an error that names it.
func (t *translator) order(specs map[string]*ServiceSpec, names []string) []string {
	placed := map[string]bool{}
	out := make([]string, 0, len(names))
	for len(out) < len(names) {
		progress := false
		for _, n := range names {
			if placed[n] || !t.ready(specs[n], placed) {
				continue
			}
			placed[n] = true
			out = append(out, n)
			progress = true
			break
		}
		if !progress {
			cycle := findCycle(specs, names, placed)
			t.fail(cycle[0], "depends_on", "dependency cycle: %s", strings.Join(cycle, " → "))
			// Keep going with the rest so every other problem is reported.
			for _, n := range names {
				if !placed[n] {
					placed[n] = true
					out = append(out, n)
				}
			}
		}
	}
	return out
}

func (t *translator) ready(s *ServiceSpec, placed map[string]bool) bool {
	for _, d := range s.DependsOn {
		if !placed[d.Service] {
			return false
		}
	}
	return true
}

// findCycle walks unplaced dependencies from the first unplaced service
// until a service repeats; every unplaced service has an unplaced
// dependency, so the walk must repeat.
func findCycle(specs map[string]*ServiceSpec, names []string, placed map[string]bool) []string {
	var path []string
	cur := ""
	for _, n := range names {
		if !placed[n] {
			cur = n
			break
		}
	}
	for !slices.Contains(path, cur) {
		path = append(path, cur)
		for _, d := range specs[cur].DependsOn {
			if !placed[d.Service] {
				cur = d.Service
				break
			}
		}
	}
	i := slices.Index(path, cur)
	return append(path[i:], cur)
}
