package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
)

// signalAndWait sends sig to a running task and waits for it to exit;
// when grace passes first, it SIGKILLs the container (killAndWait). The
// task itself stays, so its exit status can still be read.
func signalAndWait(ctx context.Context, ctr client.Container, sig syscall.Signal, grace time.Duration) error {
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	st, err := task.Status(ctx)
	if err != nil || (st.Status != client.Running && st.Status != client.Paused && st.Status != client.Created) {
		return nil
	}
	// Wait before Kill, or a fast exit could be missed.
	waitC, err := task.Wait(ctx)
	if err != nil {
		return err
	}
	if exited, err := signalWithin(ctx, task, waitC, sig, grace); exited || err != nil {
		return err
	}
	return killAndWait(ctx, task, waitC)
}

// signalWithin sends sig to the task and waits up to d for its exit on
// waitC; it reports whether the task exited.
func signalWithin(ctx context.Context, task client.Task, waitC <-chan client.ExitStatus, sig syscall.Signal, d time.Duration) (bool, error) {
	if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
		return false, err
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-waitC:
		return true, nil
	case <-timer.C:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// killInitGrace is how long killAndWait gives a SIGKILLed service's init
// to be reaped before it signals every process of the container.
const killInitGrace = 2 * time.Second

// killAndWait SIGKILLs a task and waits for its exit on waitC. The init
// goes first, alone: a service with a PID namespace of its own (the
// default) loses everything else in it when its init dies; one that shares
// a namespace (pid: service:NAME, host, x-compod share_pid) gets the
// fallback below for the rest of its processes. Killing "all"
// (runc kill --all) freezes the container's cgroup first, and with the
// runc of Debian 12 (1.1.5) on cgroup v1 that can fail to freeze while an
// exec is being set up in the container (a health probe), leaving the
// service running; it is only the fallback, for a service whose init
// survives.
func killAndWait(ctx context.Context, task client.Task, waitC <-chan client.ExitStatus) error {
	if exited, err := signalWithin(ctx, task, waitC, syscall.SIGKILL, killInitGrace); exited || err != nil {
		return err
	}
	if err := task.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	select {
	case <-waitC:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// deleteContainer removes a container, its task (killed) and its snapshot.
func deleteContainer(ctx context.Context, ctr client.Container) error {
	if task, err := ctr.Task(ctx, nil); err == nil {
		if st, err := task.Status(ctx); err == nil && st.Status != client.Stopped {
			if waitC, err := task.Wait(ctx); err == nil {
				if err := killAndWait(ctx, task, waitC); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
					return fmt.Errorf("killing task of %s: %w", ctr.ID(), err)
				}
			}
		}
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("deleting task of %s: %w", ctr.ID(), err)
		}
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("deleting container %s: %w", ctr.ID(), err)
	}
	return nil
}

func joinErrs(errs []error) error { return errors.Join(errs...) }

// taskBundleTimeout bounds how long newTask waits for containerd to finish
// removing an earlier task of the same id.
const taskBundleTimeout = 10 * time.Second

// newTask is ctr.NewTask, retried (with backoff, up to taskBundleTimeout)
// while containerd still has the bundle of an earlier task of the same id.
// That happens right after `down` or gc removed a pod whose launch was
// killed while containerd was creating a task: containerd goes on with
// the creation after its client is gone and undoes it a moment later, and
// until then the next launch's creation fails with "failed to start shim:
// mkdir <bundle>: file exists" although nothing of the pod is to be seen.
// The error says nothing more specific than that text.
func (e *Engine) newTask(ctx context.Context, ctr client.Container, ioc cio.Creator) (client.Task, error) {
	deadline := time.Now().Add(taskBundleTimeout)
	delay := 50 * time.Millisecond
	for {
		task, err := ctr.NewTask(ctx, ioc)
		if err == nil || !bundleLeft(err) || time.Now().After(deadline) {
			return task, err
		}
		e.log.Info("containerd is still removing an earlier task of this container's id; trying again", "container", ctr.ID(), "err", err)
		if !sleepCtx(ctx, delay) {
			return nil, err
		}
		delay = min(2*delay, time.Second)
	}
}

// bundleLeft reports whether NewTask failed on the bundle of an earlier
// task of the same id (newTask).
func bundleLeft(err error) bool {
	s := err.Error()
	return strings.Contains(s, "failed to start shim") && strings.Contains(s, "file exists")
}

// sleepCtx waits d, or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
