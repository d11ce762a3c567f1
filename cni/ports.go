package cni

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// CheckHostPortsFree binds every mapping's host port (on its host IP, or
// all addresses) and lets go of it again, so a port some host process
// holds is refused up front: portmap's DNAT would otherwise silently
// shadow it.
func CheckHostPortsFree(ports []PortMapping) error {
	for _, p := range ports {
		proto := protocol(p.Protocol)
		ip := hostIP(p.HostIP)
		addr := net.JoinHostPort(ip, strconv.Itoa(int(p.HostPort)))
		var err error
		switch proto {
		case "tcp":
			var l net.Listener
			if l, err = net.Listen("tcp", addr); err == nil {
				l.Close()
			}
		case "udp":
			var c net.PacketConn
			if c, err = net.ListenPacket("udp", addr); err == nil {
				c.Close()
			}
		case "sctp":
			continue // not checkable with the standard library
		default:
			return fmt.Errorf("host port %d: unknown protocol %q (want tcp, udp or sctp)", p.HostPort, p.Protocol)
		}
		if err != nil {
			where := ip
			if where == "" {
				where = "all addresses"
			}
			if errors.Is(err, syscall.EADDRINUSE) {
				return fmt.Errorf("host port %d/%s (%s) is already in use on the host", p.HostPort, proto, where)
			}
			return fmt.Errorf("host port %d/%s (%s) cannot be used: %w", p.HostPort, proto, where, err)
		}
	}
	return nil
}
