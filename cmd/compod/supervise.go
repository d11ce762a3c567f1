package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/compod/compod/runtime"
)

// newSuperviseCommand is `compod supervise -p POD`. Started by a user, it
// re-attaches a supervisor to a running pod whose supervisor died (`ps`
// says unsupervised): it takes the pod's owner lock (refusing while a live
// supervisor holds it) and hands it to a detached supervisor, as `up -d`
// does. With --owner-fd (how `up -d` and this command start it) it is that
// detached supervisor: it keeps the pod's restart policies, health checks
// and failure policy working until the pod is stopped or removed (which
// stops it with SIGTERM first).
func newSuperviseCommand(g *globals) *cobra.Command {
	var project string
	var ownerFD int
	cmd := &cobra.Command{
		Use:   "supervise -p NAME",
		Short: "Re-attach a supervisor to a pod whose supervisor died (ps: unsupervised)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if project == "" {
				return usagef("give the pod: compod supervise -p NAME")
			}
			return runSupervise(cmd.Context(), g, project, ownerFD)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&project, "project-name", "p", "", "pod (project) name")
	f.IntVar(&ownerFD, "owner-fd", -1, "descriptor of the pod's owner lock, handed over by up -d")
	f.MarkHidden("owner-fd")
	completePods(cmd, g)
	return cmd
}

func runSupervise(ctx context.Context, g *globals, project string, ownerFD int) error {
	eng, err := g.engine(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	if ownerFD < 0 {
		if err := eng.TakeOwner(project); err != nil {
			return err
		}
		if err := startSupervisor(g, eng, project); err != nil {
			return err
		}
		fmt.Printf("pod %s is supervised again\n", project)
		return nil
	}
	// From here on this process owns the pod: while it lives, gc leaves
	// the pod alone.
	if err := eng.AdoptOwner(project, os.NewFile(uintptr(ownerFD), "owner.lock")); err != nil {
		return err
	}
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	states, err := eng.Watch(sigCtx, project)
	if err != nil {
		return err
	}
	var prev runtime.PodState
	for st := range states {
		printTransition(project, prev, st)
		prev = st
	}
	return nil
}

// startSupervisor hands a pod started by `up -d` to a detached `compod
// supervise` process that outlives this one.
func startSupervisor(g *globals, eng *runtime.Engine, pod string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logf, err := eng.OpenSupervisorLog(pod)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(exe, superviseArgv(g, pod)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The child inherits the open file of the pod's owner lock (as fd 3):
	// a flock belongs to the open file, so the pod stays owned from this
	// process to the child without a gap, and this process can exit.
	if f := eng.OwnerLockFile(pod); f != nil {
		cmd.ExtraFiles = []*os.File{f}
		cmd.Args = append(cmd.Args, "--owner-fd=3")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // not in the terminal's session
	// This process lets go of the pod first: two supervisors would both
	// restart a service. An exit in between is found by the new one.
	eng.Release(pod)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the pod's supervisor: %w", err)
	}
	if err := eng.RecordSupervisor(pod, cmd.Process.Pid); err != nil {
		// An unrecorded supervisor would outlive `down` (which finds it
		// by its record): it goes, and the caller removes the pod.
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("recording the pod's supervisor: %w", err)
	}
	return cmd.Process.Release()
}

// superviseArgv is the supervisor's command line (without the program):
// the pod and every global setting of this process.
func superviseArgv(g *globals, pod string) []string {
	return append([]string{"supervise", "--project-name=" + pod}, g.argv()...)
}
