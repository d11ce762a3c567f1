package executor

import (
	"fmt"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/translate"
)

// OfferedPorts lists the host ports of the task's "ports" resources, in the
// order the task gives them (resource by resource, range by range), each
// once: ranges of several resources (roles, reservations) or of a
// hand-written TaskInfo may overlap, and a port handed out twice would
// fail the second CNI port mapping. Port 0 is not a port (in a plan it
// means "not published") and is skipped.
func OfferedPorts(resources []mesos.Resource) []uint16 {
	var out []uint16
	var seen [65536]bool
	for _, r := range resources {
		if r.Name != "ports" || r.Ranges == nil {
			continue
		}
		for _, rg := range r.Ranges.Range {
			for p := max(rg.Begin, 1); p <= rg.End && p <= 65535; p++ {
				if !seen[p] {
					seen[p] = true
					out = append(out, uint16(p))
				}
			}
		}
	}
	return out
}

// AssignHostPorts gives the pod's published ports (plan.Ports, in order) the
// task's offered host ports, in order, as dce-go did: a host port written in
// the compose file is replaced (Mesos allocated the offered ones, not it),
// and a container-only port ("80") gets the next offered port too. Extra
// offered ports stay unused. More published ports than offered ports is an
// error that names them.
func AssignHostPorts(published []translate.PortMapping, offered []uint16) ([]translate.PortMapping, error) {
	if len(published) > len(offered) {
		names := make([]string, len(published))
		for i, p := range published {
			names[i] = fmt.Sprintf("%s %d/%s", p.Service, p.ContainerPort, proto(p))
		}
		return nil, fmt.Errorf("the pod publishes %d port(s) (%s) but the task has only %d host port(s) in its \"ports\" resource: give the task at least %d ports (Marathon: portDefinitions or portMappings; Aurora: named ports)",
			len(published), strings.Join(names, ", "), len(offered), len(published))
	}
	out := make([]translate.PortMapping, len(published))
	for i, p := range published {
		p.HostPort = offered[i]
		p.Protocol = proto(p)
		out[i] = p
	}
	return out, nil
}

func proto(p translate.PortMapping) string {
	if p.Protocol == "" {
		return "tcp"
	}
	return p.Protocol
}

// applyHostPorts writes assigned host ports into the plan: plan.Ports, and
// each service's own Ports (the k-th published port of a service in
// plan.Ports is the k-th entry of its Ports).
func applyHostPorts(plan *translate.PodPlan, assigned []translate.PortMapping) {
	plan.Ports = assigned
	seen := map[string]int{}
	for _, p := range assigned {
		svc, ok := plan.Service(p.Service)
		if !ok {
			continue
		}
		k := seen[p.Service]
		seen[p.Service]++
		if k < len(svc.Ports) {
			svc.Ports[k].HostPort = p.HostPort
			svc.Ports[k].Protocol = p.Protocol
		}
	}
}

// PortLabel is the TaskStatus label that carries one assigned host port:
// compod.port.<service>.<containerPort>/<proto> = <hostPort>.
func PortLabel(p translate.PortMapping) string {
	return fmt.Sprintf("compod.port.%s.%d/%s", p.Service, p.ContainerPort, proto(p))
}
