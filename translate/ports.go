package translate

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// ports translates published ports. compose-go has already expanded
// ranges ("8000-8001:80-81") into one entry per port. A port without a
// host port gets HostPort 0: the runtime (or the Mesos executor, from the
// task's port resources) chooses it.
func (t *translator) ports(s *types.ServiceConfig) []PortMapping {
	var out []PortMapping
	for i, p := range s.Ports {
		field := fmt.Sprintf("ports[%d]", i)
		pm := PortMapping{Service: s.Name, HostIP: p.HostIP, Protocol: strings.ToLower(p.Protocol)}
		if pm.Protocol == "" {
			pm.Protocol = "tcp"
		}
		if pm.Protocol != "tcp" && pm.Protocol != "udp" {
			t.fail(s.Name, field, "protocol %q is not supported: use tcp or udp", p.Protocol)
		}
		if p.Target == 0 || p.Target > 65535 {
			t.fail(s.Name, field, "invalid container port %d: ports are 1 to 65535", p.Target)
		} else {
			pm.ContainerPort = uint16(p.Target)
		}
		if hp, err := hostPort(p.Published); err != nil {
			t.fail(s.Name, field, "%v", err)
		} else {
			pm.HostPort = hp
		}
		if p.HostIP != "" && net.ParseIP(p.HostIP) == nil {
			t.fail(s.Name, field, "invalid host IP %q", p.HostIP)
		}
		out = append(out, pm)
	}
	return out
}

// hostPort parses compose's published port. A host range for a single
// container port (docker picks a free one) is taken only when it is one
// port long: the plan holds one host port per mapping.
func hostPort(published string) (uint16, error) {
	if published == "" {
		return 0, nil
	}
	lo, hi, isRange := strings.Cut(published, "-")
	if isRange && lo != hi {
		return 0, fmt.Errorf("host port range %q for one container port is not supported: give one host port (or none, to have one assigned)", published)
	}
	n, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("invalid host port %q: ports are 0 to 65535", published)
	}
	return uint16(n), nil
}

// wildcardIP reports whether a host IP means "all addresses", which
// conflicts with every other address on the same port.
func wildcardIP(ip string) bool {
	return ip == "" || ip == "0.0.0.0" || ip == "::"
}

// checkPortConflicts rejects two mappings of the same host port and
// protocol on overlapping host addresses: the second one could never bind.
// exposedPorts expands one `expose` entry ("80", "80/udp", "8000-8010")
// into "port/proto" keys; what does not parse yields nothing (compose-go's
// schema has checked the form), and a range is capped so a hostile one
// costs nothing.
func exposedPorts(e string) []string {
	spec, proto, _ := strings.Cut(e, "/")
	if proto == "" {
		proto = "tcp"
	}
	lo, hi, isRange := strings.Cut(spec, "-")
	first, err := strconv.Atoi(lo)
	if err != nil {
		return nil
	}
	last := first
	if isRange {
		if last, err = strconv.Atoi(hi); err != nil {
			return nil
		}
	}
	var out []string
	for p := first; p <= last && p <= 65535 && len(out) < 1024; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, strings.ToLower(proto)))
	}
	return out
}

func (t *translator) checkPortConflicts(services []ServiceSpec) {
	type seen struct {
		service string
		index   int
		ip      string
	}
	byPort := map[string][]seen{}
	// Container ports live in the one network namespace of the pod: two
	// services publishing the same one cannot both be listening on it.
	byTarget := map[string]string{}
	for _, s := range services {
		// Ports the service declares it listens on without publishing.
		for i, e := range t.p.Services[s.Name].Expose {
			for _, target := range exposedPorts(e) {
				if other, ok := byTarget[target]; ok && other != s.Name {
					t.warn(s.Name, fmt.Sprintf("expose[%d]", i), "container port %s is also declared by service %q: services of a pod share one network namespace, so only one of them can listen on it", target, other)
				}
				byTarget[target] = s.Name
			}
		}
		for i, p := range s.Ports {
			target := fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol)
			if other, ok := byTarget[target]; ok && other != s.Name {
				t.warn(s.Name, fmt.Sprintf("ports[%d]", i), "container port %s is also published by service %q: services of a pod share one network namespace, so only one of them can listen on it", target, other)
			}
			byTarget[target] = s.Name
			if p.HostPort == 0 {
				continue
			}
			key := fmt.Sprintf("%d/%s", p.HostPort, p.Protocol)
			for _, prev := range byPort[key] {
				if prev.ip == p.HostIP || wildcardIP(prev.ip) || wildcardIP(p.HostIP) {
					t.fail(s.Name, fmt.Sprintf("ports[%d]", i), "host port %s%s is already published by service %q (ports[%d])", hostIPPrefix(p.HostIP), key, prev.service, prev.index)
					break
				}
			}
			byPort[key] = append(byPort[key], seen{s.Name, i, p.HostIP})
		}
	}
}

func hostIPPrefix(ip string) string {
	if ip == "" {
		return ""
	}
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:"
	}
	return ip + ":"
}
