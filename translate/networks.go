package translate

import (
	"fmt"
	"net"
	"reflect"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// The pod's networks. A pod has one netns, so a network is the pod's (one
// interface, one address), not a service's: the services' networks are
// merged, and services may repeat a setting of a network but not disagree
// on it. An external network (external: true, name: where it differs) is
// the operator's CNI network of that name; every non-external network is
// the operator's default network, so they all become one interface.

// podNetwork is a network being merged from the services.
type podNetwork struct {
	spec     NetworkSpec
	priority int
	from     map[string]string // field → service that set it
}

// podNetworks fills plan.Networks and plan.NetworkMode.
func (t *translator) podNetworks(plan *PodPlan, names []string) {
	if t.podNetworkMode(plan, names) {
		return
	}
	byCNI := map[string]*podNetwork{}
	for _, name := range names {
		s := t.p.Services[name]
		keys := make([]string, 0, len(s.Networks))
		for k := range s.Networks {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		// A service-level mac_address is the service's first network's,
		// as docker takes it.
		first := firstByPriority(s.Networks, keys)
		for _, key := range keys {
			top, ok := t.p.Networks[key]
			if !ok {
				continue // reported by service()
			}
			cniName := ""
			if top.External {
				cniName = top.Name
				if cniName == "" {
					cniName = key
				}
			}
			cfg := s.Networks[key]
			if cfg == nil {
				cfg = &types.ServiceNetworkConfig{}
			}
			pn := byCNI[cniName]
			if pn == nil {
				pn = &podNetwork{spec: NetworkSpec{Name: key, CNIName: cniName}, priority: cfg.Priority, from: map[string]string{}}
				byCNI[cniName] = pn
			}
			field := "networks." + key
			if cfg.Priority > pn.priority {
				pn.priority = cfg.Priority
			}
			mac := cfg.MacAddress
			macField := field + ".mac_address"
			if mac == "" && key == first && s.MacAddress != "" {
				mac, macField = s.MacAddress, "mac_address"
			}
			t.mergeNetworkValue(name, field+".interface_name", cfg.InterfaceName, &pn.spec.Interface, pn, "interface_name")
			t.mergeNetworkValue(name, field+".ipv4_address", cfg.Ipv4Address, &pn.spec.IPv4, pn, "ipv4_address")
			t.mergeNetworkValue(name, field+".ipv6_address", cfg.Ipv6Address, &pn.spec.IPv6, pn, "ipv6_address")
			t.mergeNetworkValue(name, macField, mac, &pn.spec.MAC, pn, "mac_address")
			for _, a := range cfg.Aliases {
				if !contains(pn.spec.Aliases, a) {
					pn.spec.Aliases = append(pn.spec.Aliases, a)
				}
			}
			if cfg.Ipv4Address != "" && (net.ParseIP(cfg.Ipv4Address) == nil || net.ParseIP(cfg.Ipv4Address).To4() == nil) {
				t.fail(name, field+".ipv4_address", "%q is not an IPv4 address", cfg.Ipv4Address)
			}
			if cfg.Ipv6Address != "" && (net.ParseIP(cfg.Ipv6Address) == nil || net.ParseIP(cfg.Ipv6Address).To4() != nil) {
				t.fail(name, field+".ipv6_address", "%q is not an IPv6 address", cfg.Ipv6Address)
			}
			if mac != "" {
				if _, err := net.ParseMAC(mac); err != nil {
					t.fail(name, macField, "%q is not a MAC address", mac)
				}
			}
		}
	}
	nets := make([]*podNetwork, 0, len(byCNI))
	for _, pn := range byCNI {
		nets = append(nets, pn)
	}
	// docker compose's order: priority (highest first), then name.
	sort.Slice(nets, func(i, j int) bool {
		if nets[i].priority != nets[j].priority {
			return nets[i].priority > nets[j].priority
		}
		return nets[i].spec.Name < nets[j].spec.Name
	})
	// The default network alone, with nothing asked of it, is what an
	// empty list means: plans stay as they were before networks.
	if len(nets) == 1 && reflect.DeepEqual(nets[0].spec, NetworkSpec{Name: nets[0].spec.Name}) {
		return
	}
	for _, pn := range nets {
		plan.Networks = append(plan.Networks, pn.spec)
	}
}

// mergeNetworkValue sets *dst to v, or fails when another service set a
// different value.
func (t *translator) mergeNetworkValue(service, field, v string, dst *string, pn *podNetwork, what string) {
	if v == "" {
		return
	}
	if *dst == "" {
		*dst, pn.from[what] = v, service
		return
	}
	if !strings.EqualFold(*dst, v) {
		t.fail(service, field, "%q conflicts with %s %q of service %q on network %q: the services of a pod share one interface per network", v, what, *dst, pn.from[what], pn.spec.Name)
	}
}

func firstByPriority(nets map[string]*types.ServiceNetworkConfig, keys []string) string {
	first, best := "", 0
	for _, k := range keys {
		p := 0
		if c := nets[k]; c != nil {
			p = c.Priority
		}
		if first == "" || p > best {
			first, best = k, p
		}
	}
	return first
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// podNetworkMode: network_mode none gives the pod a netns with loopback
// only; network_mode host runs the pod in the host's network namespace.
// Either is the pod's one network namespace, so every service must ask
// for the same mode. It reports whether the pod has such a mode.
func (t *translator) podNetworkMode(plan *PodPlan, names []string) bool {
	mode := ""
	var with, other []string
	for _, name := range names {
		m := t.p.Services[name].NetworkMode
		if m != "none" && m != "host" {
			other = append(other, name)
			continue
		}
		if mode != "" && m != mode {
			t.fail(name, "network_mode", "%q conflicts with network_mode %q of service %q: all services of a pod share one network namespace", m, mode, with[0])
			return true
		}
		mode = m
		with = append(with, name)
	}
	if mode == "" {
		return false
	}
	if len(other) > 0 {
		t.fail(other[0], "network_mode", "service %q has network_mode %s, which applies to the pod's one network namespace: set it on every service (here: %s)", with[0], mode, strings.Join(other, ", "))
		return true
	}
	for _, name := range names {
		s := t.p.Services[name]
		if len(s.Networks) > 0 {
			t.fail(name, "networks", "network_mode %s and networks are mutually exclusive: remove networks", mode)
		}
		switch mode {
		case "none":
			if len(s.Ports) > 0 {
				t.fail(name, "ports", "a pod with network_mode none has no network to publish ports on")
			}
		case "host":
			// Docker ignores published ports in host mode, with a
			// warning; translateProject drops them from the plan.
			if len(s.Ports) > 0 {
				t.warn(name, "ports", "ignored with network_mode host: the service listens on the host's ports directly")
			}
			if s.Hostname != "" {
				t.warn(name, "hostname", "ignored with network_mode host: the pod's hostname is the host's")
			}
			if s.MacAddress != "" {
				t.warn(name, "mac_address", "ignored with network_mode host: the pod has no interface of its own")
			}
		}
	}
	plan.NetworkMode = mode
	return true
}

// topLevelNetworks warns about what the declared networks set that CNI
// networks do not take: drivers, IPAM and options belong to the
// operator's conflists.
func (t *translator) topLevelNetworks() {
	var names []string
	for name, n := range t.p.Networks {
		if name == "default" && reflect.DeepEqual(n, types.NetworkConfig{Name: t.p.Name + "_default"}) {
			continue // compose-go's implicit default network
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n := t.p.Networks[name]
		var ignored []string
		if n.Driver != "" {
			ignored = append(ignored, "driver")
		}
		if len(n.DriverOpts) > 0 {
			ignored = append(ignored, "driver_opts")
		}
		if !reflect.DeepEqual(n.Ipam, types.IPAMConfig{}) {
			ignored = append(ignored, "ipam")
		}
		if n.Internal {
			ignored = append(ignored, "internal")
		}
		if n.EnableIPv6 != nil || n.EnableIPv4 != nil {
			ignored = append(ignored, "enable_ipv4/enable_ipv6")
		}
		if len(ignored) == 0 {
			continue
		}
		what := "the operator's default CNI network"
		if n.External {
			what = fmt.Sprintf("the CNI network %q", n.Name)
		}
		t.warn("", "networks."+name, "%s ignored: the network is %s, set up as its conflist says", strings.Join(ignored, ", "), what)
	}
}
