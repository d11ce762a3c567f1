// Command recorder is a CNI plugin for tests: chained after the plugins
// that do the work, it writes down what the runtime gave it (its network
// config, "args" included, and CNI_ARGS) and passes the previous result
// on unchanged. Tests read the records to see what reached a network's
// plugins.
//
// Its config names the directory of the records: {"type": "<this
// binary>", "recordDir": "/dir"}. Each call writes
// <recordDir>/<COMMAND>-<container id>-<ifname>.json.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// Record is what one call received.
type Record struct {
	Command string          `json:"command"`
	Config  json.RawMessage `json:"config"`
	CNIArgs string          `json:"cniArgs"`
}

type conf struct {
	types.PluginConf
	RecordDir string `json:"recordDir"`
}

func record(command string, a *skel.CmdArgs) (*conf, error) {
	var c conf
	if err := json.Unmarshal(a.StdinData, &c); err != nil {
		return nil, fmt.Errorf("recorder: parsing the config: %w", err)
	}
	if c.RecordDir == "" {
		return nil, fmt.Errorf("recorder: no recordDir in the config")
	}
	b, err := json.MarshalIndent(Record{Command: command, Config: a.StdinData, CNIArgs: a.Args}, "", "  ")
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s-%s-%s.json", command, a.ContainerID, a.IfName)
	return &c, os.WriteFile(filepath.Join(c.RecordDir, name), b, 0o644)
}

func main() {
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add: func(a *skel.CmdArgs) error {
			c, err := record("ADD", a)
			if err != nil {
				return err
			}
			if err := version.ParsePrevResult(&c.PluginConf); err != nil {
				return fmt.Errorf("recorder: parsing prevResult: %w", err)
			}
			if c.PrevResult == nil {
				return fmt.Errorf("recorder: no prevResult: chain it after a plugin that makes a result")
			}
			return types.PrintResult(c.PrevResult, c.CNIVersion)
		},
		Del:   func(a *skel.CmdArgs) error { _, err := record("DEL", a); return err },
		Check: func(a *skel.CmdArgs) error { _, err := record("CHECK", a); return err },
	}, version.All, "compod test recorder")
}
