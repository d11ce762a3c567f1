// Command add-label is an example out-of-process compod plugin
// (docs/plugins.md): at pre_launch it labels every service
// `example.com/decorated-by=add-label` and sets DECORATED_BY in its
// environment; the other hooks only log. Install it as an executable of the
// executor's plugin directory and name it in plugin_order:
//
//	go build -o /etc/compod/plugins/add-label ./examples/plugins/add-label
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/compod/compod/plugin"
)

const (
	labelKey = "example.com/decorated-by"
	envVar   = "DECORATED_BY"
)

func main() {
	var req plugin.Request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		// stderr goes to the executor's log; the exit status fails the hook.
		fmt.Fprintln(os.Stderr, "add-label: reading the request:", err)
		os.Exit(2)
	}
	// Everything written to stderr lands in the executor's log, tagged
	// with the plugin's name, the hook and the task.
	fmt.Fprintf(os.Stderr, "add-label: %s for task %s (pod %s)\n", req.Hook, req.TaskID, req.Pod)
	if req.Hook != plugin.HookPreLaunch {
		return // nothing on stdout: nothing to change
	}
	for i := range req.Plan.Services {
		s := &req.Plan.Services[i]
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels[labelKey] = "add-label"
		s.Env = append(s.Env, envVar+"=add-label")
	}
	if err := json.NewEncoder(os.Stdout).Encode(plugin.Response{Plan: req.Plan}); err != nil {
		fmt.Fprintln(os.Stderr, "add-label:", err)
		os.Exit(2)
	}
}
