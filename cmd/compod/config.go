package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

// configOptions are config's own flags.
type configOptions struct {
	files, envFiles, profiles []string
	project, format, oci      string
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
in the IPC and UTS namespace paths (/proc/` + runtime.PausePIDPlaceholder + `/ns/ipc).`,
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
	f.StringArrayVarP(&o.files, "file", "f", nil, "compose file (repeatable; default: compose.yaml or docker-compose.yml here, with its override file)")
	f.StringVarP(&o.project, "project-name", "p", "", "pod (project) name (default: COMPOSE_PROJECT_NAME, the files' name: field, or the project directory's name)")
	f.StringArrayVar(&o.envFiles, "env-file", nil, "env file for interpolation (repeatable; default: .env next to the first compose file)")
	f.StringArrayVar(&o.profiles, "profile", nil, "compose profile to enable (repeatable; default: COMPOSE_PROFILES)")
	f.StringVar(&o.format, "format", "yaml", "output format of the compose model: yaml or json")
	f.StringVar(&o.oci, "oci", "", "print the OCI runtime spec of this service instead (asks containerd for the image)")
	return cmd
}

func runConfig(ctx context.Context, g *globals, o configOptions) error {
	files := o.files
	if len(files) == 0 {
		files = defaultComposeFiles()
		if len(files) == 0 {
			return errors.New("no compose file: give -f FILE (compose.yaml and docker-compose.yml were not found here)")
		}
	}
	project, plan, err := translate.LoadProject(ctx, translate.LoadOptions{Files: files, ProjectName: o.project, EnvFiles: o.envFiles, Profiles: o.profiles})
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
