package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A pod started with `compod up -d` is handed to a detached `compod
// supervise` process, so restart policies and health checks keep working
// after `up` returns. Its pid is kept in the pod directory; whoever stops or
// removes the pod stops that process first, so it never restarts a service
// that is being stopped on purpose.

const supervisorPIDFile = "supervisor.pid"

// supervisorStopTimeout bounds the wait for a supervisor process to exit.
const supervisorStopTimeout = 5 * time.Second

// RecordSupervisor notes that process pid supervises the pod.
func (e *Engine) RecordSupervisor(pod string, pid int) error {
	p := filepath.Join(e.podDir(pod), supervisorPIDFile)
	return os.WriteFile(p, []byte(strconv.Itoa(pid)+"\n"), modePrivateFile)
}

// OpenSupervisorLog opens the file a detached `compod supervise` of the
// pod writes its output to. Only root reads it: it repeats health-check
// output and errors, which can hold secrets.
func (e *Engine) OpenSupervisorLog(pod string) (*os.File, error) {
	return os.OpenFile(filepath.Join(e.podDir(pod), "supervisor.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, modePrivateFile)
}

// SupervisorPID returns the pid of the process supervising the pod, or 0.
func (e *Engine) SupervisorPID(pod string) int {
	b, err := os.ReadFile(filepath.Join(e.podDir(pod), supervisorPIDFile))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || !isSupervisor(pid) {
		return 0
	}
	return pid
}

// isSupervisor checks that pid is a live `compod supervise` (a stale pid
// file must not make compod signal an unrelated process).
func isSupervisor(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(string(b), "\x00")
	return len(args) > 1 && args[1] == "supervise"
}

// stopSupervisorProcess stops another process's supervision of the pod
// (SIGTERM, then wait), unless that process is this one.
func (e *Engine) stopSupervisorProcess(pod string) error {
	pid := e.SupervisorPID(pod)
	if pid == 0 || pid == os.Getpid() {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stopping the supervisor (pid %d) of pod %q: %w", pid, pod, err)
	}
	deadline := time.Now().Add(supervisorStopTimeout)
	for isSupervisor(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	os.Remove(filepath.Join(e.podDir(pod), supervisorPIDFile))
	return nil
}
