package runtime

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/compod/compod/cni"
	"github.com/compod/compod/translate"
)

// NetworkAttachment is one network of a pod, as its record keeps it: what
// was asked of CNI (network, conf file, interface, options: enough for
// DEL, whose cached result libcni finds by network name, the pod's CNI id
// and the interface) and what ADD gave.
type NetworkAttachment struct {
	Request cni.NetworkRequest `json:"request"`
	// Aliases resolve inside the pod to IP (/etc/hosts).
	Aliases []string `json:"aliases,omitempty"`
	// Result of ADD; empty until the pod is attached.
	IP        string   `json:"ip,omitempty"`
	IPs       []string `json:"ips,omitempty"`
	MAC       string   `json:"mac,omitempty"`
	Interface string   `json:"interface,omitempty"`
	Gateway   string   `json:"gateway,omitempty"`
}

// NetworkStatus is one network of a pod, for ps.
type NetworkStatus struct {
	Name      string   `json:"name"`
	Interface string   `json:"interface,omitempty"`
	IPs       []string `json:"ips,omitempty"`
	MAC       string   `json:"mac,omitempty"`
}

func networkStatuses(rec *PodRecord) []NetworkStatus {
	var out []NetworkStatus
	for _, a := range rec.Networks {
		out = append(out, NetworkStatus{Name: a.Request.Name, Interface: a.Interface, IPs: a.IPs, MAC: a.MAC})
	}
	return out
}

// planNetworks resolves the pod's networks against the operator's conf
// dir, read now (so a changed conf dir needs no restart): the networks
// the launch names (a Mesos task's), else the plan's, else the default
// network. A port goes on the network it names (PortMapping.Network),
// else on the first network that can publish ports (its conflist has
// portmap); a port whose network cannot publish, or a pod that publishes
// ports on networks none of which can, is refused, naming them. The
// second result gives, per port, the index of its attachment. Bandwidth
// limits (labels: the launch's, else the services') go on every network
// that has the bandwidth plugin, and are refused likewise.
func (e *Engine) planNetworks(plan *translate.PodPlan, override []translate.NetworkSpec, ports []translate.PortMapping, labels map[string]string) ([]NetworkAttachment, []int, error) {
	if plan.NetworkMode == "host" {
		// The host's network namespace: no CNI, nothing to attach.
		if len(override) > 0 {
			return nil, nil, fmt.Errorf("network_mode host: the pod runs in the host's network namespace and cannot join the CNI networks the launch names")
		}
		// No network to limit: asked-for limits are refused.
		return nil, nil, applyBandwidth(plan, labels, nil, nil)
	}
	if plan.NetworkMode == "none" && len(override) == 0 {
		if len(ports) > 0 {
			return nil, nil, fmt.Errorf("network_mode none: the pod has no network to publish ports on")
		}
		return nil, nil, applyBandwidth(plan, labels, nil, nil)
	}
	specs := override
	if len(specs) == 0 {
		specs = plan.Networks
	}
	if len(specs) == 0 {
		specs = []translate.NetworkSpec{{Name: "default"}}
	}
	var out []NetworkAttachment
	byName := map[string]int{}
	specAt := map[string]int{} // spec (pod network) name → attachment
	var canPublish []bool
	portsOn := -1
	var bandwidthOn []int
	for _, s := range specs {
		cfg, info, err := cni.Resolve(e.cniConfig, s.CNIName)
		if err != nil {
			return nil, nil, fmt.Errorf("network %q: %w", s.Name, err)
		}
		// compod's own bridge must not share its subnet with another
		// network of the host. Through the host helper this process does
		// not see the host's routes (it is in another netns): no check.
		if info.BuiltIn && !e.hostHelper {
			if err := cni.CheckDefaultSubnet(); err != nil {
				return nil, nil, fmt.Errorf("network %q: %w", s.Name, err)
			}
		}
		if i, dup := byName[info.Name]; dup {
			// Two compose networks on one CNI network: one interface.
			out[i].Aliases = appendNew(out[i].Aliases, s.Aliases...)
			specAt[s.Name] = i
			continue
		}
		var ips []string
		for _, ip := range []string{s.IPv4, s.IPv6} {
			if ip == "" {
				continue
			}
			if net.ParseIP(ip) == nil {
				return nil, nil, fmt.Errorf("network %q: invalid address %q", s.Name, ip)
			}
			ips = append(ips, ip)
		}
		if len(ips) > 0 && !info.Has(cni.CapIPs) {
			return nil, nil, fmt.Errorf("network %q: the address %s cannot be honoured: no plugin of CNI network %q (%s) declares the %q capability", s.Name, strings.Join(ips, ", "), info.Name, info.File, cni.CapIPs)
		}
		if s.MAC != "" && !info.Has(cni.CapMAC) {
			return nil, nil, fmt.Errorf("network %q: the MAC address %s cannot be honoured: no plugin of CNI network %q (%s) declares the %q capability", s.Name, s.MAC, info.Name, info.File, cni.CapMAC)
		}
		cfg.IfName = s.Interface
		if cfg.IfName == "" {
			cfg.IfName = fmt.Sprintf("eth%d", len(out))
		}
		if portsOn < 0 && info.Has(cni.CapPortMappings) {
			portsOn = len(out)
		}
		if info.Has(cni.CapBandwidth) {
			bandwidthOn = append(bandwidthOn, len(out))
		}
		byName[info.Name] = len(out)
		specAt[s.Name] = len(out)
		canPublish = append(canPublish, info.Has(cni.CapPortMappings))
		out = append(out, NetworkAttachment{
			Request: cni.NetworkRequest{Name: info.Name, Config: cfg, Options: cni.Options{IPs: ips, MAC: s.MAC, Args: s.Args, ConfigArgs: s.ConfigArgs}},
			Aliases: slices.Clone(s.Aliases),
		})
	}
	// Which network publishes each port; publishAssigned puts the ports
	// there once their host ports are assigned.
	portNet := make([]int, len(ports))
	for k, p := range ports {
		i := portsOn
		if p.Network != "" {
			j, ok := specAt[p.Network]
			if !ok {
				return nil, nil, fmt.Errorf("service %q: port %d/%s is to be published on network %q, which the pod is not on", p.Service, p.ContainerPort, proto(p), p.Network)
			}
			if !canPublish[j] {
				return nil, nil, fmt.Errorf("port %d/%s is to be published on network %q, but its conflist %s has no portmap plugin (no %q capability): add one, or publish the port on another network", p.ContainerPort, proto(p), p.Network, out[j].Request.Config.ConfFile, cni.CapPortMappings)
			}
			i = j
		} else if portsOn < 0 {
			names := make([]string, len(out))
			for i, a := range out {
				names[i] = a.Request.Name
			}
			return nil, nil, fmt.Errorf("service %q publishes port %d, but the pod's CNI network %s cannot publish ports: its conflist has no portmap plugin (no %q capability); add one, or do not publish ports", p.Service, p.ContainerPort, strings.Join(names, ", "), cni.CapPortMappings)
		}
		portNet[k] = i
	}
	if err := applyBandwidth(plan, labels, out, bandwidthOn); err != nil {
		return nil, nil, err
	}
	return out, portNet, nil
}

// cniPorts are the pod's published ports as CNI's portMappings.
func cniPorts(ports []translate.PortMapping) []cni.PortMapping {
	out := make([]cni.PortMapping, 0, len(ports))
	for _, p := range ports {
		out = append(out, cni.PortMapping{HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: p.Protocol})
	}
	return out
}

// publishAssigned puts the assigned host ports (assignPorts: the plan's
// ports, in order, with every host port chosen) on the attachments that
// planNetworks chose for them (portNet, per port).
func publishAssigned(nets []NetworkAttachment, ports []translate.PortMapping, portNet []int) {
	byNet := map[int][]translate.PortMapping{}
	for k, p := range ports {
		byNet[portNet[k]] = append(byNet[portNet[k]], p)
	}
	for i, ps := range byNet {
		nets[i].Request.Options.Ports = cniPorts(ps)
	}
}

func proto(p translate.PortMapping) string {
	if p.Protocol == "" {
		return "tcp"
	}
	return p.Protocol
}

func appendNew(xs []string, ys ...string) []string {
	for _, y := range ys {
		if !slices.Contains(xs, y) {
			xs = append(xs, y)
		}
	}
	return xs
}
