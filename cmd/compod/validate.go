package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/compod/compod/plugin"
	"github.com/compod/compod/translate"
)

// validateReport is `compod validate --format json`: a stable document
// (documented in docs/policy.md) for CI pipelines and admission hooks.
type validateReport struct {
	Pod      string `json:"pod,omitempty"`
	Admitted bool   `json:"admitted"`
	// Errors are problems of the compose files themselves.
	Errors []problem `json:"errors"`
	// Violations are what the admission policy refused.
	Violations []translate.Violation `json:"violations"`
	Warnings   []string              `json:"warnings"`
}

// problem is one error of the compose files, located.
type problem struct {
	File    string `json:"file,omitempty"`
	Service string `json:"service,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// validatePlugins are validate's plugin flags: the PreLaunch hooks run on
// the plan before the policy judges it, as under the executor.
type validatePlugins struct {
	order, dir string
}

func newValidateCommand() *cobra.Command {
	var o upOptions
	var format string
	var plugins validatePlugins
	cmd := &cobra.Command{
		Use:   "validate [flags]",
		Short: "Check compose files (and an admission policy) without running anything",
		Long: `Load, merge and translate the compose files as up would, and judge the pod
by the admission policy when one is given (--policy, env COMPOD_POLICY),
without touching containerd, the network or the host. Every problem is
listed, with file, service and field. Exit 0 when up would admit the pod,
1 when not.

--plugins runs the PreLaunch hooks of the named plugins first, as the Mesos
executor does before its policy: the built-in ones, and the executables of
--plugin-dir (out-of-process plugins run only when a directory is given).
They see no Mesos ids (docs/plugins.md).`,
		Example: `  compod validate -f compose.yaml --policy /etc/compod/policy.yaml
  compod validate --format json
  compod validate --plugins general,check-images --plugin-dir /etc/compod/plugins`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return usagef("--format %q: want text or json", format)
			}
			return runValidate(cmd.Context(), o, plugins, format)
		},
	}
	f := cmd.Flags()
	o.composeFlags.add(f)
	f.StringVar(&o.policy, "policy", envOr("COMPOD_POLICY", ""), "admission policy file (docs/policy.md; env COMPOD_POLICY)")
	f.StringVar(&format, "format", "text", "output format: text or json")
	f.StringVar(&plugins.order, "plugins", envOr("COMPOD_PLUGINS", ""), "plugins whose PreLaunch hook runs before the policy, comma-separated (env COMPOD_PLUGINS)")
	f.StringVar(&plugins.dir, "plugin-dir", envOr("COMPOD_PLUGIN_DIR", ""), "directory of out-of-process plugins (env COMPOD_PLUGIN_DIR)")
	return cmd
}

func runValidate(ctx context.Context, o upOptions, po validatePlugins, format string) error {
	lopts, err := o.loadOptions()
	if err != nil {
		return err
	}
	// An unknown plugin is a broken command line, not a verdict on the pod.
	plugins, err := plugin.Resolver{Dir: po.dir}.Resolve(strings.Split(po.order, ","))
	if err != nil {
		return err
	}
	rep := validateReport{Errors: []problem{}, Violations: []translate.Violation{}, Warnings: []string{}}
	var policy *translate.Policy
	if o.policy != "" {
		p, err := translate.LoadPolicyFile(o.policy)
		if err != nil {
			return err // the policy itself is broken: not a verdict on the pod
		}
		policy = &p
	}
	plan, err := translate.Load(ctx, lopts)
	switch {
	case err != nil:
		rep.Errors = problems(err)
		rep.Warnings = append(rep.Warnings, translate.LoadWarnings(err)...)
	default:
		rep.Pod = plan.Name
		rep.Warnings = append(rep.Warnings, plan.Warnings...)
		// Their stderr and failures go to stderr, as log lines; a
		// failure is the verdict (the executor fails the task there).
		chain := plugin.Chain{Plugins: plugins, Task: plugin.Task{Pod: plan.Name},
			Log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
		if err := chain.PreLaunch(ctx, plan); err != nil {
			rep.Errors = problems(err)
		} else if policy != nil {
			rep.Violations = append(rep.Violations, translate.Check(plan, *policy)...)
		}
	}
	rep.Admitted = len(rep.Errors) == 0 && len(rep.Violations) == 0

	if format == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		for _, w := range rep.Warnings {
			fmt.Println("warning:", w)
		}
		for _, p := range rep.Errors {
			fmt.Println("error:", p.text())
		}
		for _, v := range rep.Violations {
			fmt.Println("denied:", v.Error())
		}
		switch {
		case rep.Admitted && policy != nil:
			fmt.Printf("pod %s: valid, admitted by %s\n", rep.Pod, o.policy)
		case rep.Admitted:
			fmt.Printf("pod %s: valid (no policy given)\n", rep.Pod)
		default:
			fmt.Printf("refused: %d error(s), %d policy violation(s)\n", len(rep.Errors), len(rep.Violations))
		}
	}
	if !rep.Admitted {
		return exitError{1}
	}
	return nil
}

func (p problem) text() string {
	return (&translate.Error{File: p.File, Service: p.Service, Field: p.Field, Msg: p.Message}).Error()
}

// problems turns translate's errors into located problems.
func problems(err error) []problem {
	var out []problem
	for _, p := range translate.Problems(err) {
		var te *translate.Error
		if errors.As(p, &te) {
			out = append(out, problem{File: te.File, Service: te.Service, Field: te.Field, Message: te.Msg})
			continue
		}
		out = append(out, problem{Message: p.Error()})
	}
	return out
}
