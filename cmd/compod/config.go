package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

// configOptions are config's own flags.
type configOptions struct {
	composeFlags
	format, oci string
}

func newConfigCommand(g *globals) *cobra.Command {
	var o configOptions
	cmd := &cobra.Command{
		Use:   "config [flags]",
		Short: "Print the merged compose model, or the OCI spec of one service (--oci)",
		Long: `Print the compose model compod runs: the files merged, interpolated (with
the env files and the environment), paths resolved, env_file and label_file
merged into environment and labels, as ` + "`docker compose config`" + ` prints it.
A model that up would refuse is an error, with every problem listed. This
does not touch containerd.

With --oci SERVICE, config prints instead the OCI runtime spec (JSON, what
containerd gets) that up would give the service. The image's config
(entrypoint, cmd, env, user, working dir) comes from the image, so this asks
containerd (--address) and needs the image present in the namespace: pull it
first with ` + "`compod up --pull always`" + ` or ` + "`ctr -n NAMESPACE image pull`" + `. The parts that
depend on a running pod are those a launch would use (the netns path under
--netns-dir, the cgroup path, the volume directories under --state-dir),
except the pause process's pid, which the spec shows as ` + runtime.PausePIDPlaceholder + `
in the IPC and UTS namespace paths (/proc/` + runtime.PausePIDPlaceholder + `/ns/ipc), and the pid
of a service whose PID namespace the service joins (pid: service:NAME), shown
as PID_OF_NAME.`,
		Example: `  compod config -f compose.yaml -f override.yaml
  compod config --format json | jq .services
  compod config --oci web | jq .process.args`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.format != "yaml" && o.format != "json" {
				return usagef("--format %q: want yaml or json", o.format)
			}
			if o.oci != "" && cmd.Flags().Changed("format") {
				return usagef("--oci prints the spec as JSON, the form containerd gets: drop --format")
			}
			return runConfig(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	o.composeFlags.add(f)
	f.StringVar(&o.format, "format", "yaml", "output format of the compose model: yaml or json")
	f.StringVar(&o.oci, "oci", "", "print the OCI runtime spec of this service instead (asks containerd for the image)")
	return cmd
}

func runConfig(ctx context.Context, g *globals, o configOptions) error {
	lopts, err := o.loadOptions()
	if err != nil {
		return err
	}
	project, plan, err := translate.LoadProject(ctx, lopts)
	if err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	if o.oci != "" {
		return printServiceSpec(ctx, g, plan, o.oci)
	}
	var out []byte
	if o.format == "json" {
		raw, err := project.MarshalJSON()
		if err != nil {
			return fmt.Errorf("rendering the compose model: %w", err)
		}
		// compose-go's JSON is compact; indented, as docker compose
		// prints it.
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return fmt.Errorf("rendering the compose model: %w", err)
		}
		out = append(buf.Bytes(), '\n')
	} else if out, err = project.MarshalYAML(); err != nil {
		return fmt.Errorf("rendering the compose model: %w", err)
	}
	_, err = os.Stdout.Write(out)
	return err
}

// printServiceSpec prints the OCI spec of one service of plan.
func printServiceSpec(ctx context.Context, g *globals, plan *translate.PodPlan, service string) error {
	eng, err := g.stateView(ctx, true)
	if err != nil {
		return err
	}
	defer eng.Close()
	if cerr := eng.ContainerdErr(); cerr != nil {
		return fmt.Errorf("--oci reads the image's config from containerd, which is unreachable: %w", cerr)
	}
	spec, err := eng.ServiceSpec(ctx, plan, service)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(spec)
}
