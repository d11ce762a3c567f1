package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/compod/compod/runtime"
)

// cmdSupervise is the hidden `compod supervise -p POD`: started detached by
// `up -d`, it keeps a pod's restart policies and health checks working
// until the pod is stopped or removed (which stops it with SIGTERM first).
func cmdSupervise(ctx context.Context, args []string) error {
	var g globals
	fs := newFlags("supervise", &g)
	project := fs.String("p", "", "pod (project) name")
	if _, err := parseInterleaved(fs, args); err != nil {
		return errors.Join(errUsage, err)
	}
	if *project == "" {
		return errors.Join(errUsage, errors.New("give the pod: compod supervise -p NAME"))
	}
	eng, err := g.engine(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	states, err := eng.Watch(sigCtx, *project)
	if err != nil {
		return err
	}
	var prev runtime.PodState
	for st := range states {
		printTransition(*project, prev, st)
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
	cmd := exec.Command(exe, "supervise", "-p", pod,
		"--address", g.address, "--namespace", g.namespace, "--state-dir", g.stateDir,
		"--cni-conf-dir", g.cniConfDir, "--cni-bin-dir", g.cniBinDir, "--netns-dir", g.netnsDir,
		"--sandbox-image", g.sandboxImage, "--log-level", g.logLevel)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // not in the terminal's session
	// This process lets go of the pod first: two supervisors would both
	// restart a service. An exit in between is found by the new one.
	eng.Release(pod)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the pod's supervisor: %w", err)
	}
	if err := eng.RecordSupervisor(pod, cmd.Process.Pid); err != nil {
		return err
	}
	return cmd.Process.Release()
}
