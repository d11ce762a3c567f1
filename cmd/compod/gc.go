package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/compod/compod/runtime"
)

// cmdGC is `compod gc`: it removes the pods whose owner is gone (a killed
// `up`, a pod kept after a foreground `up` ended, a dead executor's pod),
// never a live one; --dry-run only lists them.
func cmdGC(ctx context.Context, args []string) error {
	var g globals
	fs := newFlags("gc", &g)
	dryRun := fs.Bool("dry-run", false, "list what would be removed, remove nothing")
	format := fs.String("format", "table", "table or json")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return errors.Join(errUsage, err)
	}
	if len(pos) > 0 {
		return fmt.Errorf("gc takes no arguments, got %q (usage: compod gc [--dry-run] [--format table|json])", pos)
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("--format %q: want table or json", *format)
	}
	eng, err := g.engine(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	pods, gcErr := eng.GC(ctx, runtime.GCOptions{DryRun: *dryRun})
	if *format == "json" {
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
		case *dryRun:
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
