package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/compod/compod/runtime"
)

func newPsCommand(g *globals) *cobra.Command {
	var project, format string
	cmd := &cobra.Command{
		Use:   "ps [flags]",
		Short: "List pods and their services' state, health, restarts, pid and exit code",
		Long: `List pods and their services' state, health, restarts, pid and exit code.

ps reads the pods' records in the state dir and asks containerd for the
services' tasks. When containerd cannot be reached, ps says so on stderr and
still lists the pods from their records, with state "unknown".`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json", format)
			}
			return runPs(cmd.Context(), g, project, format)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&project, "project-name", "p", "", "only this pod")
	f.StringVar(&format, "format", "table", "output format: table or json")
	completePods(cmd, g)
	return cmd
}

func runPs(ctx context.Context, g *globals, project, format string) error {
	eng, err := g.stateView(ctx, true)
	if err != nil {
		return err
	}
	defer eng.Close()
	cerr := eng.ContainerdErr()
	if cerr != nil {
		fmt.Fprintf(os.Stderr, "warning: containerd is unreachable: pod states are unknown, pods are shown from their records (%v)\n", cerr)
	}
	pods, err := eng.Pods(ctx, project)
	if err != nil {
		return err
	}
	if format == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if pods == nil {
			pods = []runtime.PodStatus{}
		}
		return enc.Encode(pods)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POD\tSERVICE\tSTATE\tHEALTH\tRESTARTS\tPID\tEXIT\tIP\tPORTS")
	for _, p := range pods {
		// The pod's own row: its phase (the one ps, up, supervise and the
		// executor act on), why it failed, and its address on every network.
		phase := string(p.State)
		if p.Reason != "" {
			phase += " (" + string(p.Reason) + ")"
		}
		fmt.Fprintf(tw, "%s\t-\t%s\t\t\t\t\t%s\t\n", p.Name, phase, podAddresses(p))
		for _, s := range p.Services {
			exit := ""
			if s.ExitCode != nil {
				exit = fmt.Sprint(*s.ExitCode)
			}
			pid := ""
			if s.State == runtime.StateRunning {
				pid = fmt.Sprint(s.PID)
			}
			health := s.Health
			if health == "" {
				health = "-"
			}
			state := s.State
			if state == runtime.StateUnknown && cerr != nil {
				state += " (containerd unreachable)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", p.Name, s.Name, state, health, s.Restarts, pid, exit, p.IP, servicePorts(p, s.Name))
		}
	}
	return tw.Flush()
}

func servicePorts(p runtime.PodStatus, service string) string {
	var out []string
	for _, m := range p.Ports {
		if m.Service != service {
			continue
		}
		host := m.HostIP
		if host == "" {
			host = "0.0.0.0"
		}
		out = append(out, fmt.Sprintf("%s:%d->%d/%s", host, m.HostPort, m.ContainerPort, m.Protocol))
	}
	return strings.Join(out, ",")
}

// podAddresses is the pod's IP, or with several networks each network's
// addresses ("front=10.1.0.5,back=10.2.0.7").
func podAddresses(p runtime.PodStatus) string {
	if len(p.Networks) < 2 {
		return p.IP
	}
	var out []string
	for _, n := range p.Networks {
		for _, ip := range n.IPs {
			out = append(out, n.Name+"="+ip)
		}
	}
	return strings.Join(out, ",")
}
