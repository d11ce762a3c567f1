package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/compod/compod/runtime"
)

func newLogsCommand(g *globals) *cobra.Command {
	var project string
	var follow, timestamps bool
	var stream string
	cmd := &cobra.Command{
		Use:   "logs -p NAME [SERVICE] [flags]",
		Short: "Print a pod's service output",
		Long: `Print a pod's service output (stdout and stderr, in the order the lines
were written), every service's prefixed with its name, or one service's.
logs reads each service's log file (its rotated files first): it works
after the services or compod have exited, and while containerd is down.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("one service at most, got %q", args)
			}
			return nil
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 || project == "" {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return serviceNames(context.Background(), g, project), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if project == "" {
				return usagef("give the pod: compod logs -p NAME [SERVICE]")
			}
			// Only files are read: containerd is not asked.
			eng, err := g.stateView(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer eng.Close()
			if stream != "" && stream != "stdout" && stream != "stderr" {
				return usagef("--stream %q: want stdout or stderr", stream)
			}
			opts := runtime.LogOptions{Follow: follow, Prefix: len(args) == 0, Timestamps: timestamps, Stream: stream}
			if len(args) == 1 {
				opts.Service = args[0]
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return eng.Logs(ctx, project, opts, os.Stdout)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&project, "project-name", "p", "", "pod (project) name")
	f.BoolVarP(&follow, "follow", "f", false, "follow the output (across rotations)")
	f.BoolVarP(&timestamps, "timestamps", "t", false, "show each line's time")
	f.StringVar(&stream, "stream", "", "show one stream only: stdout or stderr")
	completePods(cmd, g)
	return cmd
}
