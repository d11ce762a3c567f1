package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/compod/compod/translate"
)

// External is an out-of-process plugin: an executable of the operator's
// plugin directory, run once per hook call. The protocol (docs/plugins.md):
// argv[1] is the hook; stdin is one JSON Request; stdout is empty or one
// JSON Response; a non-zero exit status is a failure; stderr goes to the
// executor's log, line by line. The process runs in a process group of its
// own, which is killed when the call times out and when the call ends
// (a plugin leaves no process behind).
type External struct {
	PluginName string
	Path       string
}

// Request is what an out-of-process plugin reads on stdin.
type Request struct {
	Hook string `json:"hook"`
	Task
	// Plan is the pod plan (translate.PodPlan's JSON, the same as the
	// sandbox's compod-plan.json).
	Plan *translate.PodPlan `json:"plan"`
}

// Response is what an out-of-process plugin may write on stdout.
type Response struct {
	// Plan replaces the pod plan (pre_launch only; ignored, with a
	// warning, for the other hooks).
	Plan *translate.PodPlan `json:"plan,omitempty"`
	// Error fails the hook with this message.
	Error string `json:"error,omitempty"`
}

// Limits of what compod reads from a plugin.
const (
	maxAnswer    = 16 << 20 // stdout
	maxLogLine   = 4096     // one stderr line, as logged
	pipeDrainMax = 2 * time.Second
)

func (e *External) Name() string { return e.PluginName }

func (e *External) PreLaunch(ctx context.Context, t Task, plan *translate.PodPlan) error {
	return e.call(ctx, HookPreLaunch, t, plan)
}

func (e *External) PostLaunch(ctx context.Context, t Task, plan *translate.PodPlan) error {
	return e.call(ctx, HookPostLaunch, t, plan)
}

func (e *External) PreKill(ctx context.Context, t Task, plan *translate.PodPlan) error {
	return e.call(ctx, HookPreKill, t, plan)
}

func (e *External) PostKill(ctx context.Context, t Task, plan *translate.PodPlan) error {
	return e.call(ctx, HookPostKill, t, plan)
}

func (e *External) Shutdown(ctx context.Context, t Task, plan *translate.PodPlan) error {
	return e.call(ctx, HookShutdown, t, plan)
}

func (e *External) call(ctx context.Context, hook string, t Task, plan *translate.PodPlan) error {
	log := Logger(ctx)
	in, err := json.Marshal(Request{Hook: hook, Task: t, Plan: plan})
	if err != nil {
		return fmt.Errorf("encoding the request: %w", err)
	}
	cmd := exec.Command(e.Path, hook)
	cmd.Stdin = bytes.NewReader(append(in, '\n'))
	stdout := &cappedBuffer{max: maxAnswer}
	stderr := &lineLogger{log: log}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = pluginEnv()
	cmd.Dir = "/"
	if fi, err := os.Stat(t.Sandbox); err == nil && fi.IsDir() {
		cmd.Dir = t.Sandbox
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A child left in the background holding stdout or stderr open must
	// not hold the call until its timeout.
	cmd.WaitDelay = pipeDrainMax
	// exec.CommandContext would kill the plugin alone: its children would
	// keep running (and hold its pipes open).
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", e.Path, err)
	}
	pgid := cmd.Process.Pid
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var runErr error
	select {
	case runErr = <-waited:
	case <-ctx.Done():
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-waited
		stderr.flush()
		return fmt.Errorf("killed it and its process group: %w", ctx.Err())
	}
	// Whatever the plugin started and left running goes with it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	stderr.flush()
	if errors.Is(runErr, exec.ErrWaitDelay) && cmd.ProcessState != nil && cmd.ProcessState.Success() {
		log.Warn("plugin exited but left a process holding its stdout or stderr; killed it", "after", pipeDrainMax)
		runErr = nil
	}

	answer, err := parseAnswer(stdout)
	if runErr != nil {
		var exit *exec.ExitError
		msg := runErr.Error()
		if errors.As(runErr, &exit) {
			msg = "exited with " + exitDescription(exit)
		}
		switch {
		case err == nil && answer.Error != "":
			return errors.New(answer.Error)
		case stderr.last != "":
			return fmt.Errorf("%s: %s", msg, stderr.last)
		}
		return errors.New(msg)
	}
	if err != nil {
		return err
	}
	if answer.Error != "" {
		return errors.New(answer.Error)
	}
	if answer.Plan != nil {
		if hook != HookPreLaunch {
			log.Warn("plugin answered a plan to a hook that cannot change it; ignored")
			return nil
		}
		if answer.Plan.Name != plan.Name {
			return fmt.Errorf("the answered plan renames the pod %q to %q: a plugin may not change the pod's name", plan.Name, answer.Plan.Name)
		}
		*plan = *answer.Plan
	}
	return nil
}

// parseAnswer reads stdout: nothing (or blanks) means "no change";
// anything else must be one Response, with no unknown field (a misspelt
// key must not silently drop a change).
func parseAnswer(out *cappedBuffer) (Response, error) {
	var r Response
	if out.over {
		return r, fmt.Errorf("answered more than %d bytes on stdout", maxAnswer)
	}
	data := bytes.TrimSpace(out.buf.Bytes())
	if len(data) == 0 {
		return r, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("answered invalid JSON on stdout (want {\"plan\": ...} or {\"error\": \"...\"}): %v; stdout begins %q", err, head(data, 120))
	}
	if dec.More() {
		return r, fmt.Errorf("answered more than one JSON document on stdout; stdout begins %q", head(data, 120))
	}
	return r, nil
}

func head(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

func exitDescription(e *exec.ExitError) string {
	if ws, ok := e.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return fmt.Sprintf("status %d", e.ExitCode())
}

// pluginEnv is the executor's environment without its credentials: a
// plugin has no business speaking to the agent as the executor.
func pluginEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// cappedBuffer keeps at most max bytes and remembers that there was more.
type cappedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); len(p) > room {
		c.over = true
		c.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.buf.Write(p)
}

// lineLogger logs a plugin's stderr line by line and keeps the last
// non-empty line for the error message.
type lineLogger struct {
	log     *slog.Logger
	partial []byte
	last    string
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.emit(l.partial[:i])
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > maxLogLine {
		l.emit(l.partial)
		l.partial = nil
	}
	return len(p), nil
}

func (l *lineLogger) flush() {
	if len(l.partial) > 0 {
		l.emit(l.partial)
		l.partial = nil
	}
}

func (l *lineLogger) emit(b []byte) {
	line := strings.TrimRight(string(b), "\r")
	if len(line) > maxLogLine {
		line = line[:maxLogLine] + "..."
	}
	if strings.TrimSpace(line) == "" {
		return
	}
	l.last = line
	l.log.Info("plugin stderr", "line", line)
}
