package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

func newDownCommand(g *globals) *cobra.Command {
	var files []string
	var project string
	var timeout int
	var volumes bool
	cmd := &cobra.Command{
		Use:   "down [flags]",
		Short: "Stop a pod and remove it: containers, network, records and logs",
		Long: `Stop a pod (each service's stop signal, then SIGKILL after its grace
period) and remove it: containers, network namespace, CNI attachment,
cgroups, its records and logs. Named volumes are kept (the pod started
again finds its data) unless -v is given; external volumes are never
removed. The pod is named by -p, or by the compose files as up would name
it.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := runtime.DownOptions{RemoveVolumes: volumes}
			if cmd.Flags().Changed("timeout") {
				if timeout < 0 {
					return usagef("--timeout %d: want seconds, 0 or more", timeout)
				}
				d := time.Duration(timeout) * time.Second
				opts.Timeout = &d
			}
			return runDown(cmd.Context(), g, project, files, opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&project, "project-name", "p", "", "pod (project) name")
	f.StringArrayVarP(&files, "file", "f", nil, "compose file, to take the pod name from (repeatable)")
	f.IntVarP(&timeout, "timeout", "t", 0, "seconds to wait for each service to stop before SIGKILL (default: its stop_grace_period)")
	f.BoolVarP(&volumes, "volumes", "v", false, "also remove the pod's named volumes (not external ones)")
	completePods(cmd, g)
	return cmd
}

func runDown(ctx context.Context, g *globals, project string, files []string, opts runtime.DownOptions) error {
	name, err := podName(ctx, project, files)
	if err != nil {
		return err
	}
	eng, err := g.engine(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	if err := eng.Down(ctx, name, opts); err != nil {
		return err
	}
	fmt.Printf("pod %s removed\n", name)
	return nil
}

// podName takes the pod name from -p, or from the compose files as `up`
// would name the pod.
func podName(ctx context.Context, project string, files []string) (string, error) {
	if project != "" {
		return project, nil
	}
	if len(files) == 0 {
		files = defaultComposeFiles()
	}
	if len(files) == 0 {
		return "", fmt.Errorf("which pod? give -p NAME (see `compod ps`) or -f FILE")
	}
	plan, err := translate.Load(ctx, translate.LoadOptions{Files: files})
	if err != nil {
		return "", err
	}
	return plan.Name, nil
}
