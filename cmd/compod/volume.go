package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/compod/compod/runtime"
)

// `compod volume`: named volumes are directories under the volumes dir
// (<state dir>/volumes); these commands need no containerd.
func newVolumeCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "volume",
		Short: "Manage named volumes (kept across down; see docs/volumes.md)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("which volume command? ls, create, inspect or rm")
		},
	}
	var format string
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List named volumes",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return usagef("--format %q: want table or json", format)
			}
			eng, err := g.stateView(cmd.Context(), false)
			if err != nil {
				return err
			}
			vols, err := eng.ListVolumes()
			if err != nil {
				return err
			}
			if format == "json" {
				if vols == nil {
					vols = []runtime.Volume{}
				}
				return json.NewEncoder(os.Stdout).Encode(vols)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
			fmt.Fprintln(w, "VOLUME\tPATH")
			for _, v := range vols {
				fmt.Fprintf(w, "%s\t%s\n", v.Name, v.Path)
			}
			return w.Flush()
		},
	}
	ls.Flags().StringVar(&format, "format", "table", "output format: table or json")
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a named volume (for external: true), keeping an existing one",
		Args:  exactlyOneArg("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, err := g.stateView(cmd.Context(), false)
			if err != nil {
				return err
			}
			v, err := eng.CreateVolume(args[0])
			if err != nil {
				return err
			}
			fmt.Println(v.Name)
			return nil
		},
	}
	inspect := &cobra.Command{
		Use:   "inspect NAME",
		Short: "Show a named volume as JSON",
		Args:  exactlyOneArg("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, err := g.stateView(cmd.Context(), false)
			if err != nil {
				return err
			}
			v, err := eng.InspectVolume(args[0])
			if err != nil {
				return err
			}
			enc := json.NewEncoder(os.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(v)
		},
	}
	rm := &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove named volumes and their data (refused while a pod mounts one)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("which volume? give its NAME (see compod volume ls)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, err := g.stateView(cmd.Context(), false)
			if err != nil {
				return err
			}
			for _, name := range args {
				if err := eng.RemoveVolume(name); err != nil {
					return err
				}
				fmt.Println(name)
			}
			return nil
		},
	}
	cmd.AddCommand(ls, create, inspect, rm)
	return cmd
}

// exactlyOneArg requires one positional argument, named what in the error.
func exactlyOneArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usagef("want one argument, %s; got %d", what, len(args))
		}
		return nil
	}
}
