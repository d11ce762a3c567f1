package cni

import (
	"fmt"
	"net"
	"testing"
)

// /proc/net/route as an x86 host writes it (little-endian hex).
const procRoutes = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	0101A8C0	0003	0	0	100	00000000	0	0	0
eth0	0001A8C0	00000000	0001	0	0	100	00FFFFFF	0	0	0
compod0	0000590A	00000000	0001	0	0	0	0000FFFF	0	0	0
podman1	0005590A	00000000	0001	0	0	0	00FFFFFF	0	0	0
tun0	0000000A	00000000	0001	0	0	0	000000FF	0	0	0
docker0	000011AC	00000000	0001	0	0	0	0000FFFF	0	0	0
`

func TestOverlappingRoutes(t *testing.T) {
	_, subnet, _ := net.ParseCIDR(DefaultSubnet)
	var got []string
	for _, r := range overlappingRoutes([]byte(procRoutes), subnet, DefaultBridge) {
		got = append(got, fmt.Sprintf("%s %s", r.iface, r.dst))
	}
	// podman's 10.89.5.0/24 is inside the subnet: it would take those
	// pods' traffic. The VPN's wider 10.0.0.0/8 loses to the bridge's
	// route; the default route, the LAN, docker's bridge and compod's
	// own bridge do not count.
	want := []string{"podman1 10.89.5.0/24"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("overlapping routes %v, want %v", got, want)
	}
}
