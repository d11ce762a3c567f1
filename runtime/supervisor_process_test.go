package runtime

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// startSleeper starts a process that lives until killed, and reaps it at
// cleanup.
func startSleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// A supervisor record names one process: a process that got the same pid
// later (pid reuse) is never taken for the supervisor and never signalled.
func TestSupervisorRecordSurvivesPidReuse(t *testing.T) {
	e := &Engine{stateDir: t.TempDir()}
	const pod = "pidreuse"
	if err := os.MkdirAll(e.podDir(pod), 0o700); err != nil {
		t.Fatal(err)
	}
	other := startSleeper(t)
	id, err := identify(other.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// The record of a supervisor that had this pid before: same pid,
	// another start time.
	stale := fmt.Sprintf("%d %d\n", id.pid, id.start-1)
	if err := os.WriteFile(filepath.Join(e.podDir(pod), supervisorPIDFile), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	if pid := e.SupervisorPID(pod); pid != 0 {
		t.Errorf("SupervisorPID = %d for a reused pid, want 0", pid)
	}
	if err := e.stopSupervisorProcess(pod); err != nil {
		t.Fatal(err)
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the process that reused the pid was signalled: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.podDir(pod), supervisorPIDFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale supervisor record kept: %v", err)
	}
}

// The recorded supervisor itself is found and stopped.
func TestSupervisorRecordStopsTheSupervisor(t *testing.T) {
	e := &Engine{stateDir: t.TempDir()}
	const pod = "pidlive"
	if err := os.MkdirAll(e.podDir(pod), 0o700); err != nil {
		t.Fatal(err)
	}
	sup := startSleeper(t)
	if err := e.RecordSupervisor(pod, sup.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if pid := e.SupervisorPID(pod); pid != sup.Process.Pid {
		t.Fatalf("SupervisorPID = %d, want %d", pid, sup.Process.Pid)
	}
	if err := e.stopSupervisorProcess(pod); err != nil {
		t.Fatal(err)
	}
	err := sup.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("supervisor ended with %v, want killed by SIGTERM", err)
	}
	if pid := e.SupervisorPID(pod); pid != 0 {
		t.Errorf("SupervisorPID = %d after stop, want 0", pid)
	}
}
