package translate

import (
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// PID namespace modes of ServiceSpec.PID, besides "" (the service's own)
// and "service:NAME" (that service's).
const (
	// PIDPod is the pod's PID namespace, owned by the pause container
	// (x-compod: {share_pid: true}).
	PIDPod = "pod"
	// PIDHost is the host's PID namespace (judged by the admission
	// policy's allowed_host_namespaces).
	PIDHost = "host"
)

// pidNamespaces sets every service's PID namespace from its pid: and the
// pod's x-compod share_pid. A chain of pid: service:NAME is followed to
// the service that owns the namespace, so that the runtime joins the
// owner's and the policy judges what the service really gets: a service
// that joins one with pid: host is in the host's namespace.
func (t *translator) pidNamespaces(specs map[string]*ServiceSpec, names []string, ext podExtension) {
	declared := map[string]string{}
	for _, n := range names {
		mode := t.p.Services[n].Pid
		switch {
		case mode == "private":
			mode = "" // docker's spelling of the default
		case mode == "" || mode == PIDHost:
		case strings.HasPrefix(mode, types.ServicePrefix):
			target := strings.TrimPrefix(mode, types.ServicePrefix)
			if _, ok := specs[target]; !ok {
				t.fail(n, "pid", "%q: service %q is not in the pod", mode, target)
				continue
			}
		case strings.HasPrefix(mode, types.ContainerPrefix):
			t.fail(n, "pid", "%q is not supported: a pod has no containers but its services; join a service's PID namespace with service:NAME, or share one among all services with x-compod: {share_pid: true}", mode)
			continue
		default:
			t.fail(n, "pid", "unknown PID mode %q: use host, service:NAME, or x-compod: {share_pid: true} for one PID namespace shared by the pod's services", mode)
			continue
		}
		declared[n] = mode
	}
	reported := map[string]bool{}
	for _, n := range names {
		mode := declared[n]
		chain := []string{n}
		for strings.HasPrefix(mode, types.ServicePrefix) {
			next := strings.TrimPrefix(mode, types.ServicePrefix)
			if slices.Contains(chain, next) {
				cycle := append(chain[slices.Index(chain, next):], next)
				key := strings.Join(sortedCopy(cycle[:len(cycle)-1]), ",")
				if !reported[key] {
					reported[key] = true
					t.fail(n, "pid", "PID namespace cycle: %s", strings.Join(cycle, " → "))
				}
				mode = ""
				break
			}
			chain = append(chain, next)
			if m := declared[next]; strings.HasPrefix(m, types.ServicePrefix) || m == PIDHost {
				mode = m
				continue
			}
			break // next owns its namespace
		}
		switch {
		case mode == PIDHost:
			specs[n].PID = PIDHost
		case ext.SharePID:
			specs[n].PID = PIDPod
		case strings.HasPrefix(mode, types.ServicePrefix):
			specs[n].PID = types.ServicePrefix + chain[len(chain)-1]
		}
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
