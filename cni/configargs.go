package cni

import (
	"encoding/json"
	"fmt"
	"maps"

	"github.com/containernetworking/cni/libcni"
)

// The CNI spec lets a runtime hand plugins extra arguments in the "args"
// member of each plugin's network config. Mesos' network/cni isolator uses
// it to pass a task's NetworkInfo (labels, port mappings) as
// args["org.apache.mesos"]["network_info"]; plugins written for Mesos read
// them there, so compod passes Options.ConfigArgs the same way.

// withConfigArgs is the network's conflist with args merged into the
// "args" of every plugin's config (args already in the operator's config
// are kept, except the keys that args sets). With no args it is the
// conflist itself.
func (n *Network) withConfigArgs(args map[string]any) (*libcni.NetworkConfigList, error) {
	if len(args) == 0 {
		return n.list, nil
	}
	list := *n.list
	list.Plugins = make([]*libcni.PluginConfig, len(n.list.Plugins))
	for i, p := range n.list.Plugins {
		var conf struct {
			Args map[string]any `json:"args"`
		}
		if err := json.Unmarshal(p.Bytes, &conf); err != nil {
			return nil, fmt.Errorf("CNI network %q (%s): plugin %q: reading its config: %w", n.list.Name, n.file, p.Network.Type, err)
		}
		merged := map[string]any{}
		maps.Copy(merged, conf.Args)
		maps.Copy(merged, args)
		q, err := libcni.InjectConf(p, map[string]any{"args": merged})
		if err != nil {
			return nil, fmt.Errorf("CNI network %q (%s): plugin %q: passing the launch's args: %w", n.list.Name, n.file, p.Network.Type, err)
		}
		list.Plugins[i] = q
	}
	return &list, nil
}
