package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

// logDrain is how long `up` keeps printing after the services exit, so
// their last lines reach the terminal.
const logDrain = 300 * time.Millisecond

// upOptions are up's own flags.
type upOptions struct {
	composeFlags
	pull, policy string
	timeout      time.Duration
	detach       bool
}

func newUpCommand(g *globals) *cobra.Command {
	var o upOptions
	cmd := &cobra.Command{
		Use:   "up [flags]",
		Short: "Start a pod from compose files, in the foreground or detached (-d)",
		Long: `Start a pod from compose files.

In the foreground, up streams each service's output prefixed with its name;
Ctrl-C or SIGTERM stops the pod and keeps it for ps and logs until down (or
gc). up exits with the failing service's exit code. With -d, up returns once
every service has started; a detached supervisor keeps restart policies and
health checks working.

Images that must be pulled show their progress on stderr: on a terminal a
line per image with a bar and bytes (and one per layer being downloaded),
redrawn in place; otherwise a plain line per image when its pull starts,
every 5 seconds and when it ends ("pulled IMAGE: 40.0 MiB in 2.1s").`,
		Example: `  compod up -d -f compose.yaml -f override.yaml -p web
  compod --address /run/containerd/containerd.sock up`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUp(cmd.Context(), g, o) },
	}
	f := cmd.Flags()
	o.composeFlags.add(f)
	f.StringVar(&o.pull, "pull", runtime.PullMissing, "pull policy: missing, always or never")
	f.DurationVar(&o.timeout, "timeout", 0, "bound the whole launch (images, start, depends_on conditions), e.g. 2m; 0 = none")
	f.StringVar(&o.policy, "policy", envOr("COMPOD_POLICY", ""), "admission policy file (docs/policy.md; env COMPOD_POLICY); without one no policy applies, as with docker")
	f.BoolVarP(&o.detach, "detach", "d", false, "start the pod and return")
	return cmd
}

func runUp(ctx context.Context, g *globals, o upOptions) error {
	switch o.pull {
	case runtime.PullMissing, runtime.PullAlways, runtime.PullNever:
	default:
		return fmt.Errorf("--pull %q: want missing, always or never", o.pull)
	}
	lopts, err := o.loadOptions()
	if err != nil {
		return err
	}
	plan, err := translate.Load(ctx, lopts)
	if err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	// Before anything is created: a refused pod pulls no image.
	if err := translate.AdmitWithPolicyFile(plan, o.policy); err != nil {
		return err
	}
	eng, err := g.engine(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()

	// The first SIGINT/SIGTERM cancels the launch (which rolls back) or
	// stops a running pod.
	sigCtx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	// This process owns the pod (its owner lock) for as long as it runs
	// it; `up -d` hands that to the detached supervisor. A pod whose owner
	// is gone is garbage for `compod gc`.
	owner := map[string]string{"kind": runtime.OwnerKindCLI}
	rec, err := eng.Up(sigCtx, plan, runtime.UpOptions{Pull: o.pull, Timeout: o.timeout, Owner: owner,
		PullProgress: newPullRenderer(os.Stderr).update})
	if err != nil {
		return err
	}
	printStarted(rec)
	if o.detach {
		if err := startSupervisor(g, eng, plan.Name); err != nil {
			// A pod nobody supervises and nobody can stop through its
			// supervisor is a launch that failed: it is removed.
			if derr := eng.Down(ctx, plan.Name, runtime.DownOptions{}); derr != nil {
				return fmt.Errorf("pod %s started but could not be handed to its supervisor: %w; removing it failed too: %v (run compod down -p %s)", plan.Name, err, derr, plan.Name)
			}
			return fmt.Errorf("pod %s started but could not be handed to its supervisor, so it was removed: %w", plan.Name, err)
		}
		return nil
	}
	return foreground(ctx, sigCtx, eng, plan.Name)
}

// foreground streams the services' output and the pod's state changes
// until the pod has finished or failed, or the user interrupts; then it
// stops the pod (keeping it for ps/logs) and returns the failing service's
// exit code.
func foreground(ctx, sigCtx context.Context, eng *runtime.Engine, pod string) error {
	logCtx, stopLogs := context.WithCancel(ctx)
	logsDone := make(chan error, 1)
	go func() {
		logsDone <- eng.Logs(logCtx, pod, runtime.LogOptions{Follow: true, Prefix: true}, os.Stdout)
	}()
	states, err := eng.Watch(sigCtx, pod)
	if err != nil {
		stopLogs()
		return err
	}
	var final runtime.PodState
	var prev runtime.PodState
	for st := range states {
		printTransition(pod, prev, st)
		prev = st
		if st.Phase != runtime.PhaseRunning {
			final = st
			break
		}
	}
	if sigCtx.Err() != nil {
		fmt.Fprintf(os.Stderr, "compod: stopping pod %s\n", pod)
	}
	stopErr := eng.Stop(ctx, pod, runtime.DownOptions{})
	time.Sleep(logDrain)
	stopLogs()
	<-logsDone
	if stopErr != nil {
		return stopErr
	}
	if final.Phase == runtime.PhaseFailed {
		fmt.Fprintf(os.Stderr, "compod: pod %s failed: %s\n", pod, final.Message)
		if final.ExitCode != 0 {
			return exitError{int(final.ExitCode)}
		}
		return exitError{1}
	}
	return nil
}

// printTransition tells the user what changed: health, restarts, the end.
func printTransition(pod string, prev, st runtime.PodState) {
	for svc, h := range st.Health {
		if prev.Health[svc] != h {
			fmt.Fprintf(os.Stderr, "compod: %s/%s is %s\n", pod, svc, h)
		}
	}
	for svc, n := range st.Restarts {
		if prev.Restarts[svc] != n {
			fmt.Fprintf(os.Stderr, "compod: %s/%s restarted (%d)\n", pod, svc, n)
		}
	}
	for svc, code := range st.Exits {
		if _, seen := prev.Exits[svc]; !seen {
			fmt.Fprintf(os.Stderr, "compod: %s/%s exited with code %d\n", pod, svc, code)
		}
	}
	if st.Phase == runtime.PhaseFinished && prev.Phase != st.Phase {
		fmt.Fprintf(os.Stderr, "compod: pod %s finished\n", pod)
	}
	if st.Phase == runtime.PhaseFailed && prev.Phase != st.Phase {
		fmt.Fprintf(os.Stderr, "compod: pod %s failed (%s): %s; stopping it\n", pod, st.Reason, st.Message)
	}
}

func printStarted(rec *runtime.PodRecord) {
	fmt.Printf("pod %s started: ip %s\n", rec.Plan.Name, rec.IP)
	for _, p := range rec.Ports {
		host := p.HostIP
		if host == "" {
			host = "0.0.0.0"
		}
		fmt.Printf("  %s: %s:%d -> %d/%s\n", p.Service, host, p.HostPort, p.ContainerPort, p.Protocol)
	}
}

func defaultComposeFiles() []string {
	for _, name := range []string{"compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"} {
		if _, err := os.Stat(name); err == nil {
			files := []string{name}
			for _, o := range []string{"compose.override.yaml", "compose.override.yml", "docker-compose.override.yml", "docker-compose.override.yaml"} {
				if _, err := os.Stat(o); err == nil {
					files = append(files, o)
					break
				}
			}
			return files
		}
	}
	return nil
}
