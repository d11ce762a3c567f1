package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/compod/compod/runtime"
)

func newGCCommand(g *globals) *cobra.Command {
	var dryRun bool
	var format string
	cmd := &cobra.Command{
		Use:   "gc [flags]",
		Short: "Remove the pods whose owner is gone, never a live one",
		Long: `Remove the pods whose owner is gone: what a killed up left, a pod kept
after a foreground up ended, a dead executor's pod. A live pod (its up, its
supervisor or its executor runs) is never touched; --dry-run only lists.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json", format)
			}
			return runGC(cmd.Context(), g, dryRun, format)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "list what would be removed, remove nothing")
	f.StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

// runGC is `compod gc`: it removes the pods whose owner is gone, never a
// live one; dryRun only lists them.
func runGC(ctx context.Context, g *globals, dryRun bool, format string) error {
	eng, err := g.engine(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	pods, gcErr := eng.GC(ctx, runtime.GCOptions{DryRun: dryRun})
	if format == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if pods == nil {
			pods = []runtime.GCPod{}
		}
		if err := enc.Encode(pods); err != nil {
			return err
		}
		return gcErr
	}
	if len(pods) == 0 {
		fmt.Println("no pods whose owner is gone")
		return gcErr
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POD\tOWNER\tSTATE\tACTION")
	for _, p := range pods {
		action := "removed"
		switch {
		case dryRun:
			action = "would remove"
		case !p.Removed:
			action = "failed: " + p.Error
		}
		owner := p.Owner["kind"]
		if owner == "" {
			owner = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, owner, p.State, action)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return gcErr
}
