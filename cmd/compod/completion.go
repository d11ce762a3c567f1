package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/compod/compod/runtime"
)

// Shell completion: cobra's `compod completion bash|zsh|fish|powershell`
// generates the scripts; these complete pod and service names from the
// pods' records (the state dir of --state-dir), without containerd.

// completePods completes a command's -p with the pods' names.
func completePods(cmd *cobra.Command, g *globals) {
	cmd.RegisterFlagCompletionFunc("project-name", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var names []string
		if pods, err := recordedPods(g); err == nil {
			for _, p := range pods {
				names = append(names, p.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
}

func recordedPods(g *globals) ([]runtime.PodStatus, error) {
	eng, err := g.stateView(context.Background(), false)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	return eng.Pods(context.Background(), "")
}

// serviceNames are the services of pod, for completion.
func serviceNames(ctx context.Context, g *globals, pod string) []string {
	eng, err := g.stateView(ctx, false)
	if err != nil {
		return nil
	}
	defer eng.Close()
	pods, err := eng.Pods(ctx, pod)
	if err != nil || len(pods) != 1 {
		return nil
	}
	var names []string
	for _, s := range pods[0].Services {
		names = append(names, s.Name)
	}
	return names
}
