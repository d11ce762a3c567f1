package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/compod/compod/runtime"
)

func cmdPs(ctx context.Context, args []string) error {
	var g globals
	fs := newFlags("ps", &g)
	project := fs.String("p", "", "only this pod")
	format := fs.String("format", "table", "table or json")
	if _, err := parseInterleaved(fs, args); err != nil {
		return errors.Join(errUsage, err)
	}
	if *format != "table" && *format != "json" {
		return fmt.Errorf("--format %q: want table or json", *format)
	}
	eng, err := g.engine(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	var pods []runtime.PodStatus
	if *project != "" {
		st, err := eng.Status(ctx, *project)
		if err != nil {
			return err
		}
		pods = []runtime.PodStatus{*st}
	} else if pods, err = eng.List(ctx); err != nil {
		return err
	}
	if *format == "json" {
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
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", p.Name, s.Name, s.State, health, s.Restarts, pid, exit, p.IP, servicePorts(p, s.Name))
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
