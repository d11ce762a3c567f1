package cni

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// compod's default network takes 10.89.0.0/16 on its own bridge. Another
// network on the host may use part of it (podman's `podman network
// create` hands out 10.89.N.0/24, a VPN may route it): two routes to one
// address and the pods cannot be reached, or reach the wrong hosts. The
// check runs before a pod goes on the default network, and the error says
// what to do, instead of a pod that starts and is unreachable.

// CheckDefaultSubnet fails when a route of the host (IPv4, from
// /proc/net/route) other than the default bridge's lies inside the
// default network's subnet.
func CheckDefaultSubnet() error {
	data, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return nil // no procfs view of the routes: nothing to check against
	}
	_, subnet, _ := net.ParseCIDR(DefaultSubnet)
	for _, r := range overlappingRoutes(data, subnet, DefaultBridge) {
		return fmt.Errorf("compod's default network %s (bridge %s) overlaps the host's route to %s via %s, another network on this host (podman's, a VPN's, ...): its pods would not be reachable; give compod a CNI network on a free subnet (--cni-conf-dir, the executor's cni.conf_dir) or move the other network",
			DefaultSubnet, DefaultBridge, r.dst, r.iface)
	}
	return nil
}

type hostRoute struct {
	iface string
	dst   *net.IPNet
}

// overlappingRoutes parses /proc/net/route (addresses and masks are hex
// in the host's byte order) and returns the routes, other than those
// through bridge, that lie inside subnet.
func overlappingRoutes(data []byte, subnet *net.IPNet, bridge string) []hostRoute {
	var out []hostRoute
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Scan() // the header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[0] == bridge {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || mask == 0 {
			continue
		}
		n := &net.IPNet{IP: make(net.IP, 4), Mask: make(net.IPMask, 4)}
		binary.NativeEndian.PutUint32(n.IP, uint32(dst))
		binary.NativeEndian.PutUint32(n.Mask, uint32(mask))
		// A route inside the subnet (or the subnet itself) is more
		// specific than the bridge's and takes those pods' traffic; a
		// wider one (a VPN's 10.0.0.0/8) loses to the bridge's route,
		// so pods still work: only the inside ones count.
		ones, _ := n.Mask.Size()
		sones, _ := subnet.Mask.Size()
		if subnet.Contains(n.IP) && ones >= sones {
			out = append(out, hostRoute{iface: f[0], dst: n})
		}
	}
	return out
}
