package runtime

import (
	"fmt"
	"net"
	"strconv"

	"github.com/compod/compod/translate"
)

// assignPorts gives every published port a host port and checks that no
// other pod publishes it. That no host process holds it is checked when
// the network is attached (attachNetwork), in the host's network
// namespace.
func (e *Engine) assignPorts(plan *translate.PodPlan) ([]translate.PortMapping, error) {
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
	out := make([]translate.PortMapping, 0, len(plan.Ports))
	for _, p := range plan.Ports {
		if p.Protocol == "" {
			p.Protocol = "tcp"
		}
		if p.HostPort == 0 {
			port, err := freePort(p.Protocol, p.HostIP)
			if err != nil {
				return nil, fmt.Errorf("service %q: field \"ports\": choosing a host port for %d/%s: %w", p.Service, p.ContainerPort, p.Protocol, err)
			}
			p.HostPort = port
		}
		if owner, ok := taken[portKey(p.Protocol, p.HostPort)]; ok {
			return nil, fmt.Errorf("service %q: field \"ports\": host port %d/%s is already published by pod %q: choose another port or stop that pod", p.Service, p.HostPort, p.Protocol, owner)
		}
		taken[portKey(p.Protocol, p.HostPort)] = plan.Name
		out = append(out, p)
	}
	return out, nil
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
