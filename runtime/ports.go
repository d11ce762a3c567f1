package runtime

import (
	"fmt"
	"net"
	"strconv"

	"github.com/compod/compod/translate"
)

// assignPorts gives every published port a host port, checks that no
// other pod publishes it (this instance's records, and the host-wide port
// registry for every instance's) and claims it in the registry
// (portregistry.go). That no host process holds it is checked when the
// network is attached (attachNetwork), in the host's network namespace.
// The caller holds the pod's mutation lock and releases the claims when
// the launch fails.
func (e *Engine) assignPorts(plan *translate.PodPlan) ([]translate.PortMapping, error) {
	if len(plan.Ports) == 0 {
		return nil, nil
	}
	taken := map[string]string{} // proto/port → owning pod
	recs, err := e.records()
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if r.Plan.Name == plan.Name {
			continue
		}
		for _, p := range r.Ports {
			taken[portKey(p.Protocol, p.HostPort)] = r.Plan.Name
		}
	}
	unlock, err := e.lockPortRegistry()
	if err != nil {
		return nil, err
	}
	defer unlock()
	out := make([]translate.PortMapping, 0, len(plan.Ports))
	for _, p := range plan.Ports {
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		if p.HostPort != 0 {
			if owner, ok := taken[portKey(p.Protocol, p.HostPort)]; ok {
				return nil, fmt.Errorf("service %q: field \"ports\": host port %d/%s is already published by pod %q: choose another port or stop that pod", p.Service, p.HostPort, p.Protocol, owner)
			}
			if err := e.claimPort(plan.Name, p); err != nil {
				return nil, err
			}
		} else if err := e.claimFreePort(plan.Name, &p, taken); err != nil {
			return nil, err
		}
		taken[portKey(p.Protocol, p.HostPort)] = plan.Name
		out = append(out, p)
	}
	return out, nil
}

// claimFreePort picks a port the kernel says is unused, as docker's random
// publishing does, that no pod of any instance publishes yet, and claims
// it.
func (e *Engine) claimFreePort(pod string, p *translate.PortMapping, taken map[string]string) error {
	const tries = 20
	var err error
	for range tries {
		var port uint16
		if port, err = freePort(p.Protocol, p.HostIP); err != nil {
			return fmt.Errorf("service %q: field \"ports\": choosing a host port for %d/%s: %w", p.Service, p.ContainerPort, p.Protocol, err)
		}
		if _, ok := taken[portKey(p.Protocol, port)]; ok {
			continue
		}
		p.HostPort = port
		if err = e.claimPort(pod, *p); err == nil {
			return nil
		}
	}
	return fmt.Errorf("service %q: field \"ports\": no free host port for %d/%s after %d tries: %w", p.Service, p.ContainerPort, p.Protocol, tries, err)
}

func portKey(proto string, port uint16) string { return proto + "/" + strconv.Itoa(int(port)) }

// freePort asks the kernel for an unused port, like docker's random
// publishing does.
func freePort(proto, hostIP string) (uint16, error) {
	addr := net.JoinHostPort(hostIP, "0")
	if proto == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return uint16(c.LocalAddr().(*net.UDPAddr).Port), nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port), nil
}
