package cni_test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/compod/compod/cni"
)

func TestCheckHostPortsFree(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	held := uint16(l.Addr().(*net.TCPAddr).Port)
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	heldUDP := uint16(u.LocalAddr().(*net.UDPAddr).Port)

	for _, c := range []struct {
		name string
		p    cni.PortMapping
	}{
		{"same host IP", cni.PortMapping{HostIP: "127.0.0.1", HostPort: held, ContainerPort: 80, Protocol: "tcp"}},
		{"all addresses", cni.PortMapping{HostPort: held, ContainerPort: 80}},
		{"0.0.0.0", cni.PortMapping{HostIP: "0.0.0.0", HostPort: held, ContainerPort: 80, Protocol: "TCP"}},
		{"udp", cni.PortMapping{HostIP: "127.0.0.1", HostPort: heldUDP, ContainerPort: 53, Protocol: "udp"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			free := cni.PortMapping{HostIP: "127.0.0.1", HostPort: freePort(t), ContainerPort: 81}
			err := cni.CheckHostPortsFree([]cni.PortMapping{free, c.p})
			if err == nil {
				t.Fatal("no error for a held port")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), fmt.Sprint(c.p.HostPort)) || !strings.Contains(err.Error(), "already in use on the host") {
				t.Errorf("error %q should name port %d and say it is already in use on the host", err, c.p.HostPort)
			}
		})
	}
	if err := cni.CheckHostPortsFree([]cni.PortMapping{{HostIP: "127.0.0.1", HostPort: freePort(t), ContainerPort: 80}, {HostPort: heldUDP, ContainerPort: 80, Protocol: "tcp"}}); err != nil {
		t.Errorf("free ports: %v", err)
	}
	if err := cni.CheckHostPortsFree([]cni.PortMapping{{HostPort: 1234, Protocol: "icmp"}}); err == nil {
		t.Error("unknown protocol accepted")
	}
}
