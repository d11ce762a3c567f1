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

// TaskPortMapping is one of a task's network_infos[].port_mappings: a
// host port of the task that the framework maps to a container port on
// one of the task's networks (Marathon's portMappings on a CNI network).
type TaskPortMapping struct {
	Network       string
	HostPort      uint16
	ContainerPort uint16
	Protocol      string // "tcp" or "udp"
}

// AssignHostPorts gives the pod's published ports (plan.Ports, in order)
// host ports of the task, as dce-go did, and adds the framework's port
// mappings:
//   - a published port that a port mapping names (same container port and
//     protocol) gets the mapping's host port, on the mapping's network;
//   - every other published port gets the next offered port that no
//     mapping uses, in order: a host port written in the compose file is
//     replaced (Mesos allocated the offered ones, not it), and a
//     container-only port ("80") gets one too;
//   - a mapping that no compose port names is published as well (the
//     framework asked for it), with no service.
//
// A mapping's host port must be one of the task's offered ports (else
// the pod would take a port Mesos did not allocate to it), and no host
// port is mapped twice. Extra offered ports stay unused; more published
// ports than offered ports is an error that names them.
func AssignHostPorts(published []translate.PortMapping, offered []uint16, mappings []TaskPortMapping) ([]translate.PortMapping, error) {
	isOffered := map[uint16]bool{}
	for _, p := range offered {
		isOffered[p] = true
	}
	mapped := map[uint16]bool{}
	hostTaken := map[string]bool{}
	for _, m := range mappings {
		if !isOffered[m.HostPort] {
			return nil, fmt.Errorf("network %q: port mapping %d -> %d/%s: host port %d is not in the task's \"ports\" resources: a framework maps only host ports Mesos offered to the task",
				m.Network, m.HostPort, m.ContainerPort, m.Protocol, m.HostPort)
		}
		key := fmt.Sprintf("%d/%s", m.HostPort, m.Protocol)
		if hostTaken[key] {
			return nil, fmt.Errorf("network %q: port mapping %d -> %d/%s: host port %s is mapped twice by the task's network_infos", m.Network, m.HostPort, m.ContainerPort, m.Protocol, key)
		}
		hostTaken[key] = true
		mapped[m.HostPort] = true
	}
	used := make([]bool, len(mappings))
	var free []uint16
	for _, p := range offered {
		if !mapped[p] {
			free = append(free, p)
		}
	}
	out := make([]translate.PortMapping, 0, len(published)+len(mappings))
	var unmatched []translate.PortMapping
	for _, p := range published {
		p.Protocol = proto(p)
		i := -1
		for k, m := range mappings {
			if !used[k] && m.ContainerPort == p.ContainerPort && m.Protocol == p.Protocol {
				i = k
				break
			}
		}
		if i >= 0 {
			used[i] = true
			p.HostPort, p.Network = mappings[i].HostPort, mappings[i].Network
		} else {
			unmatched = append(unmatched, p)
			if len(unmatched) > len(free) {
				continue
			}
			p.HostPort = free[len(unmatched)-1]
		}
		out = append(out, p)
	}
	if len(unmatched) > len(free) {
		names := make([]string, len(unmatched))
		for i, p := range unmatched {
			names[i] = fmt.Sprintf("%s %d/%s", p.Service, p.ContainerPort, proto(p))
		}
		return nil, fmt.Errorf("the pod publishes %d port(s) (%s) but the task has only %d host port(s) in its \"ports\" resource that no port mapping uses: give the task at least %d more ports (Marathon: portDefinitions or portMappings; Aurora: named ports)",
			len(unmatched), strings.Join(names, ", "), len(free), len(unmatched)-len(free))
	}
	for i, m := range mappings {
		if !used[i] {
			out = append(out, translate.PortMapping{HostPort: m.HostPort, ContainerPort: m.ContainerPort, Protocol: m.Protocol, Network: m.Network})
		}
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
