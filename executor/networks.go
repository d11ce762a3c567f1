package executor

import (
	"encoding/json"
	"fmt"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/translate"
)

// The task's networks: Mesos' network/cni isolator is the reference for
// how a task names them and what reaches the CNI plugins.

// taskNetworks are the CNI networks the task names, as Mesos' network/cni
// isolator reads them: container.network_infos[].name (the task's, else
// the executor's ContainerInfo), with their labels passed to the plugins
// as CNI_ARGS, their ip_addresses requests as static addresses, and the
// whole NetworkInfo in the plugins' config args as Mesos passes it
// (args["org.apache.mesos"]["network_info"]), so plugins written for
// Mesos find labels and port mappings where they look. nil when the task
// names none: the compose file's (or the default) apply.
func taskNetworks(info mesos.TaskInfo) []translate.NetworkSpec {
	var out []translate.NetworkSpec
	for _, ni := range taskNetworkInfos(info) {
		s := translate.NetworkSpec{Name: ni.GetName(), CNIName: ni.GetName()}
		for _, l := range ni.GetLabels().GetLabels() {
			if s.Args == nil {
				s.Args = map[string]string{}
			}
			s.Args[l.Key] = l.GetValue()
		}
		for _, a := range ni.IPAddresses {
			if a.GetIPAddress() == "" {
				continue
			}
			if a.GetProtocol() == mesos.IPv6 {
				s.IPv6 = a.GetIPAddress()
			} else {
				s.IPv4 = a.GetIPAddress()
			}
		}
		s.ConfigArgs = mesosConfigArgs(ni)
		out = append(out, s)
	}
	return out
}

// taskNetworkInfos are the named network_infos of the task's
// ContainerInfo, else of its executor's (unnamed ones mean the host
// network to Mesos, which a pod never joins: skipped, as Mesos does).
func taskNetworkInfos(info mesos.TaskInfo) []mesos.NetworkInfo {
	c := info.GetContainer()
	if c == nil || len(c.NetworkInfos) == 0 {
		if info.Executor != nil {
			c = info.Executor.GetContainer()
		}
	}
	if c == nil {
		return nil
	}
	var out []mesos.NetworkInfo
	for _, ni := range c.NetworkInfos {
		if ni.GetName() != "" {
			out = append(out, ni)
		}
	}
	return out
}

// mesosConfigArgs is the NetworkInfo as Mesos' isolator puts it in a
// plugin's config args: its JSON form (mesos-go's, the same field names
// as Mesos' protobuf-to-JSON) under org.apache.mesos/network_info.
func mesosConfigArgs(ni mesos.NetworkInfo) map[string]any {
	b, err := json.Marshal(ni)
	if err != nil {
		return nil
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil
	}
	// Mesos leaves out empty repeated fields; mesos-go writes null.
	for k, x := range v {
		if x == nil {
			delete(v, k)
		}
	}
	return map[string]any{"org.apache.mesos": map[string]any{"network_info": v}}
}

// taskPortMappings are the port_mappings of the task's networks
// (taskNetworkInfos): a bad one is an error naming it.
func taskPortMappings(info mesos.TaskInfo) ([]TaskPortMapping, error) {
	var out []TaskPortMapping
	for _, ni := range taskNetworkInfos(info) {
		for j, pm := range ni.PortMappings {
			m := TaskPortMapping{Network: ni.GetName(), Protocol: strings.ToLower(pm.GetProtocol())}
			if m.Protocol == "" {
				m.Protocol = "tcp"
			}
			where := fmt.Sprintf("network %q: port_mappings[%d]", ni.GetName(), j)
			if m.Protocol != "tcp" && m.Protocol != "udp" {
				return nil, fmt.Errorf("%s: protocol %q: only tcp and udp can be published", where, pm.GetProtocol())
			}
			if pm.HostPort < 1 || pm.HostPort > 65535 || pm.ContainerPort < 1 || pm.ContainerPort > 65535 {
				return nil, fmt.Errorf("%s: host port %d, container port %d: ports are 1 to 65535", where, pm.HostPort, pm.ContainerPort)
			}
			m.HostPort, m.ContainerPort = uint16(pm.HostPort), uint16(pm.ContainerPort)
			out = append(out, m)
		}
	}
	return out, nil
}
