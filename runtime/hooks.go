package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cap"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/compod/compod/translate"
)

// Lifecycle hook kinds: the compose keys, which also name them in errors.
const (
	hookPostStart = "post_start"
	hookPreStop   = "pre_stop"
)

// hookOutputMax bounds how much of a hook's output is kept for the log
// and for the error of a failing hook.
const hookOutputMax = 4096

// runHooks execs a service's post_start or pre_stop hooks in its running
// task, one after the other, and stops at the first that fails: its error
// names the service, the hook and its exit status or why it could not run,
// with the end of its output. ctx bounds them all; a hook still running
// when ctx ends is killed.
func (e *Engine) runHooks(ctx context.Context, pod string, ctr client.Container, task client.Task, svc *translate.ServiceSpec, kind string, hooks []translate.Hook) error {
	if len(hooks) == 0 {
		return nil
	}
	spec, err := task.Spec(ctx)
	if err != nil {
		return fmt.Errorf("service %q: field %q: reading the service's spec: %w", svc.Name, kind, err)
	}
	for i, h := range hooks {
		field := fmt.Sprintf("%s[%d]", kind, i)
		start := time.Now()
		proc, err := e.hookProcess(ctx, ctr, spec.Process, h)
		if err != nil {
			return fmt.Errorf("service %q: field %q: %w", svc.Name, field, err)
		}
		out, err := execHook(ctx, task, kind, i, proc)
		log := e.log.With("pod", pod, "service", svc.Name, "hook", field, "command", strings.Join(h.Command, " "), "elapsed", time.Since(start))
		if err != nil {
			log.Warn("hook failed", "err", err, "output", out)
			if out != "" {
				err = fmt.Errorf("%w; its output ends with: %s", err, lastLines(out, 5))
			}
			return fmt.Errorf("service %q: field %q: hook %q %w", svc.Name, field, strings.Join(h.Command, " "), err)
		}
		log.Info("hook ran", "output", out)
	}
	return nil
}

// hookProcess is the process of a hook: the service's (user, environment,
// working directory, capabilities, rlimits), with the hook's command and
// what the hook sets itself.
func (e *Engine) hookProcess(ctx context.Context, ctr client.Container, service *specs.Process, h translate.Hook) (*specs.Process, error) {
	if service == nil {
		return nil, errors.New("the service's spec has no process")
	}
	p := *service
	p.Args = slices.Clone(h.Command)
	p.Terminal, p.ConsoleSize = false, nil
	p.Env = mergeEnv(service.Env, h.Env)
	p.User.AdditionalGids = slices.Clone(service.User.AdditionalGids)
	if h.WorkingDir != "" {
		p.Cwd = h.WorkingDir
	}
	if h.User != "" {
		// Resolved in the container's root filesystem as user: is: a
		// name through its /etc/passwd, a group through /etc/group.
		info, err := ctr.Info(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the container to resolve user %q: %w", h.User, err)
		}
		s := &oci.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}}
		if err := withUser(h.User)(ctx, e.client, &info, s); err != nil {
			return nil, err
		}
		p.User = s.Process.User
	}
	if h.Privileged {
		// Every capability the host can grant, as docker's privileged
		// exec: the container's seccomp profile still applies.
		all, err := cap.Current()
		if err != nil {
			return nil, fmt.Errorf("field \"privileged\": reading the host's capabilities: %w", err)
		}
		p.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	} else if service.Capabilities != nil {
		c := *service.Capabilities
		p.Capabilities = &c
	}
	return &p, nil
}

// mergeEnv sets the KEY=VALUE entries of over on top of base.
func mergeEnv(base, over []string) []string {
	out := slices.Clone(base)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		out = slices.DeleteFunc(out, func(o string) bool { return strings.HasPrefix(o, k+"=") || o == k })
		out = append(out, kv)
	}
	return out
}

// execHook runs one hook process in the task and waits for it; it returns
// the hook's output (capped) and an error when the hook could not run,
// exited with a status other than 0, or outlived ctx.
func execHook(ctx context.Context, task client.Task, kind string, i int, proc *specs.Process) (string, error) {
	out := &cappedBuffer{max: hookOutputMax}
	id := fmt.Sprintf("%s-%d-%s", strings.ReplaceAll(kind, "_", ""), i, strconv.FormatInt(time.Now().UnixNano(), 36))
	// Making, starting and deleting the exec run to their end once begun
	// (as a health probe's do): a half-made exec can keep the container
	// from being killed.
	cctx, cancel := createCtx(ctx)
	defer cancel()
	process, err := task.Exec(cctx, id, proc, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		return "", fmt.Errorf("could not be started: %w", err)
	}
	defer process.Delete(cctx, client.WithProcessKill)
	waitC, err := process.Wait(cctx)
	if err != nil {
		return "", fmt.Errorf("could not be waited for: %w", err)
	}
	if err := process.Start(cctx); err != nil {
		return "", fmt.Errorf("could not be started (check its command, user and working_dir): %w", err)
	}
	select {
	case st := <-waitC:
		process.IO().Wait()
		if code := st.ExitCode(); code != 0 {
			return out.String(), fmt.Errorf("exited with status %d", code)
		}
		return out.String(), nil
	case <-ctx.Done():
		_ = process.Kill(cctx, syscall.SIGKILL)
		select {
		case <-waitC:
			process.IO().Wait()
		case <-cctx.Done():
		}
		return out.String(), fmt.Errorf("was killed: it did not finish in time (%v)", context.Cause(ctx))
	}
}

// lastLines is the last n lines of s, on one line.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// runPreStop runs a service's pre_stop hooks before it is signalled,
// within grace; it returns how much of grace is left for the stop signal.
// A failing hook is logged and the stop goes on: the service must stop
// whatever its hook says.
func (e *Engine) runPreStop(ctx context.Context, pod string, ctr client.Container, svc *translate.ServiceSpec, grace time.Duration) time.Duration {
	if len(svc.PreStop) == 0 {
		return grace
	}
	log := e.log.With("pod", pod, "service", svc.Name)
	if grace <= 0 {
		log.Warn("pre_stop hooks skipped: no stop grace period left")
		return grace
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return grace // no task: nothing runs to be stopped
	}
	if st, err := task.Status(ctx); err != nil || st.Status != client.Running {
		return grace
	}
	start := time.Now()
	hctx, cancel := context.WithTimeoutCause(ctx, grace, fmt.Errorf("the stop grace period of %v ended", grace))
	defer cancel()
	if err := e.runHooks(hctx, pod, ctr, task, svc, hookPreStop, svc.PreStop); err != nil {
		log.Warn("pre_stop hook failed; stopping the service anyway", "err", err)
	}
	return max(grace-time.Since(start), 0)
}
