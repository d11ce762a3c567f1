package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/compod/compod/cni"
)

// `compod network ls`: the CNI networks pods can go on, read from the conf
// dir as `up` reads it; needs no containerd.
func newNetworkCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Show the CNI networks pods can be attached to (see docs/networking.md)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("which network command? ls")
		},
	}
	var format string
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the CNI networks of the conf dir, their plugins, the default and whether they publish ports",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return usagef("--format %q: want table or json", format)
			}
			stateDir, err := filepath.Abs(g.stateDir)
			if err != nil {
				return err
			}
			l, err := cni.List(g.cniConfig(stateDir))
			if err != nil {
				return err
			}
			if format == "json" {
				return json.NewEncoder(os.Stdout).Encode(l)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
			fmt.Fprintln(w, "NETWORK\tDEFAULT\tPORTS\tPLUGINS\tFILE")
			for _, n := range l.Networks {
				def, ports, file := "", "no", n.File
				if n.Default {
					def = "*"
				}
				if n.Has(cni.CapPortMappings) {
					ports = "yes"
				}
				if n.BuiltIn {
					file = "(compod's own bridge)"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", n.Name, def, ports, strings.Join(n.Plugins, ","), file)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			for _, b := range l.Broken {
				fmt.Fprintf(os.Stderr, "unusable: %s: %s\n", b.File, b.Err)
			}
			if l.DefaultErr != "" {
				fmt.Fprintf(os.Stderr, "no default network: %s\n", l.DefaultErr)
			}
			return nil
		},
	}
	ls.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.AddCommand(ls)
	return cmd
}
