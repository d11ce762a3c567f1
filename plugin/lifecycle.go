package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/compod/compod/translate"
)

// DefaultTimeout bounds one hook call of one plugin when the operator sets
// no timeout.
const DefaultTimeout = 10 * time.Second

// Hook names, as the out-of-process protocol and the logs spell them.
const (
	HookPreLaunch  = "pre_launch"
	HookPostLaunch = "post_launch"
	HookPreKill    = "pre_kill"
	HookPostKill   = "post_kill"
	HookShutdown   = "shutdown"
)

// errCallTimeout is the cause of a hook call's own timeout, as opposed to
// the caller's deadline (a SHUTDOWN's grace period).
var errCallTimeout = errors.New("plugin call timed out")

// Chain runs one task's plugins, in order, with a timeout per call.
type Chain struct {
	Plugins []Plugin
	Task    Task
	// Timeout bounds each call; 0 means DefaultTimeout.
	Timeout time.Duration
	// Log is the task's logger (with its task id); every line about a
	// plugin adds the plugin and the hook.
	Log *slog.Logger
}

// HookError is a plugin's failure in one hook.
type HookError struct {
	Plugin, Hook string
	Err          error
}

func (e *HookError) Error() string {
	return fmt.Sprintf("plugin %q %s: %v", e.Plugin, e.Hook, e.Err)
}

func (e *HookError) Unwrap() error { return e.Err }

// PreLaunch runs the PreLaunch hooks in order and stops at the first
// failure, which fails the task.
func (c Chain) PreLaunch(ctx context.Context, plan *translate.PodPlan) error {
	for _, p := range c.Plugins {
		if err := c.call(ctx, p, HookPreLaunch, plan); err != nil {
			return err
		}
	}
	return nil
}

// PostLaunch, PreKill, PostKill and Shutdown run every plugin's hook even
// when one fails: each failure is logged, and all of them are returned
// (errors.Join of *HookError) for the task's status message. Nothing of
// the pod's own life depends on them.
func (c Chain) PostLaunch(ctx context.Context, plan *translate.PodPlan) error {
	return c.all(ctx, HookPostLaunch, plan)
}

func (c Chain) PreKill(ctx context.Context, plan *translate.PodPlan) error {
	return c.all(ctx, HookPreKill, plan)
}

func (c Chain) PostKill(ctx context.Context, plan *translate.PodPlan) error {
	return c.all(ctx, HookPostKill, plan)
}

func (c Chain) Shutdown(ctx context.Context, plan *translate.PodPlan) error {
	return c.all(ctx, HookShutdown, plan)
}

func (c Chain) all(ctx context.Context, hook string, plan *translate.PodPlan) error {
	var errs []error
	for _, p := range c.Plugins {
		if err := c.call(ctx, p, hook, plan); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// call runs one hook of one plugin within the timeout.
func (c Chain) call(ctx context.Context, p Plugin, hook string, plan *translate.PodPlan) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	log := c.logger().With("plugin", p.Name(), "hook", hook)
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errCallTimeout)
	defer cancel()
	ctx = withLogger(ctx, log)
	start := time.Now()
	var err error
	switch hook {
	case HookPreLaunch:
		err = p.PreLaunch(ctx, c.Task, plan)
	case HookPostLaunch:
		err = p.PostLaunch(ctx, c.Task, plan)
	case HookPreKill:
		err = p.PreKill(ctx, c.Task, plan)
	case HookPostKill:
		err = p.PostKill(ctx, c.Task, plan)
	case HookShutdown:
		err = p.Shutdown(ctx, c.Task, plan)
	}
	// A hook that ignored its context and returned late still failed.
	if err == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = ctx.Err()
	}
	if err != nil {
		switch {
		case context.Cause(ctx) == errCallTimeout:
			err = fmt.Errorf("timed out after %v (plugins.timeout in the executor config sets the limit): %w", timeout, err)
		case ctx.Err() != nil:
			err = fmt.Errorf("cut short (%v): %w", context.Cause(ctx), err)
		}
		herr := &HookError{Plugin: p.Name(), Hook: hook, Err: err}
		log.Error("plugin failed", "err", err, "elapsed", time.Since(start))
		return herr
	}
	log.Debug("plugin hook done", "elapsed", time.Since(start))
	return nil
}

func (c Chain) logger() *slog.Logger {
	l := c.Log
	if l == nil {
		l = slog.Default()
	}
	return l
}

type loggerKey struct{}

func withLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// Logger is the logger of a hook call (plugin, hook and task attached):
// what an in-process plugin should log with.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}
