package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

// logDrain is how long `up` keeps printing after the services exit, so
// their last lines reach the terminal.
const logDrain = 300 * time.Millisecond

func cmdUp(ctx context.Context, args []string) error {
	var g globals
	var files, envFiles, profiles stringList
	fs := newFlags("up", &g)
	fs.Var(&files, "f", "compose file (repeatable)")
	fs.Var(&files, "file", "compose file (repeatable)")
	project := fs.String("p", "", "pod (project) name")
	fs.StringVar(project, "project-name", "", "pod (project) name")
	fs.Var(&envFiles, "env-file", "env file for interpolation (repeatable)")
	fs.Var(&profiles, "profile", "compose profile to enable (repeatable)")
	pull := fs.String("pull", runtime.PullMissing, "pull policy: missing, always or never")
	launchTimeout := fs.Duration("timeout", 0, "bound the whole launch (images, start, depends_on conditions), e.g. 2m; 0 = none")
	detach := fs.Bool("d", false, "start the pod and return")
	fs.BoolVar(detach, "detach", false, "start the pod and return")
	if _, err := parseInterleaved(fs, args); err != nil {
		return errors.Join(errUsage, err)
	}
	switch *pull {
	case runtime.PullMissing, runtime.PullAlways, runtime.PullNever:
	default:
		return fmt.Errorf("--pull %q: want missing, always or never", *pull)
	}
	if len(files) == 0 {
		files = defaultComposeFiles()
		if len(files) == 0 {
			return errors.New("no compose file: give -f FILE (compose.yaml and docker-compose.yml were not found here)")
		}
	}
	plan, err := translate.Load(ctx, translate.LoadOptions{Files: files, ProjectName: *project, EnvFiles: envFiles, Profiles: profiles})
	if err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
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
	rec, err := eng.Up(sigCtx, plan, runtime.UpOptions{Pull: *pull, Timeout: *launchTimeout, Owner: owner})
	if err != nil {
		return err
	}
	printStarted(rec)
	if *detach {
		return startSupervisor(&g, eng, plan.Name)
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
