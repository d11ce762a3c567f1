package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/continuity"
	"golang.org/x/sys/unix"
)

// A pod started with `compod up -d` is handed to a detached `compod
// supervise` process, so restart policies and health checks keep working
// after `up` returns. Its pid is kept in the pod directory; whoever stops or
// removes the pod stops that process first, so it never restarts a service
// that is being stopped on purpose.

const supervisorPIDFile = "supervisor.pid"

// supervisorStopTimeout bounds the wait for a supervisor process to exit.
const supervisorStopTimeout = 5 * time.Second

// processIdentity names one process for as long as the host runs: a pid
// alone is reused, a pid with its start time (clock ticks since boot,
// /proc/<pid>/stat field 22) is not.
type processIdentity struct {
	pid   int
	start uint64
}

// identify reads the identity of the live process pid.
func identify(pid int) (processIdentity, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return processIdentity{}, err
	}
	// The command (field 2) is in parentheses and may hold spaces and
	// parentheses: the fields that follow start after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return processIdentity{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); the start time is field 22.
	if len(fields) < 20 {
		return processIdentity{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return processIdentity{}, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	return processIdentity{pid: pid, start: start}, nil
}

// alive says whether the process is still the one identified (not gone,
// not a zombie, and its pid not reused).
func (id processIdentity) alive() bool {
	now, err := identify(id.pid)
	if err != nil || now.start != id.start {
		return false
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", id.pid))
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && !strings.HasPrefix(strings.TrimSpace(string(b[i+1:])), "Z")
}

// RecordSupervisor notes that process pid supervises the pod, with its
// start time so that a later reader never mistakes another process that
// got the same pid for it.
func (e *Engine) RecordSupervisor(pod string, pid int) error {
	id, err := identify(pid)
	if err != nil {
		return fmt.Errorf("recording the supervisor of pod %q: %w", pod, err)
	}
	p := filepath.Join(e.podDir(pod), supervisorPIDFile)
	return continuity.AtomicWriteFile(p, []byte(fmt.Sprintf("%d %d\n", id.pid, id.start)), modePrivateFile)
}

// OpenSupervisorLog opens the file a detached `compod supervise` of the
// pod writes its output to. Only root reads it: it repeats health-check
// output and errors, which can hold secrets.
func (e *Engine) OpenSupervisorLog(pod string) (*os.File, error) {
	return os.OpenFile(filepath.Join(e.podDir(pod), "supervisor.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, modePrivateFile)
}

// SupervisorPID returns the pid of the live process supervising the pod,
// or 0.
func (e *Engine) SupervisorPID(pod string) int {
	id, ok := e.supervisorProcess(pod)
	if !ok {
		return 0
	}
	return id.pid
}

// supervisorProcess reads the pod's supervisor record and says whether
// that very process still runs.
func (e *Engine) supervisorProcess(pod string) (processIdentity, bool) {
	b, err := os.ReadFile(filepath.Join(e.podDir(pod), supervisorPIDFile))
	if err != nil {
		return processIdentity{}, false
	}
	var id processIdentity
	if n, _ := fmt.Sscanf(string(b), "%d %d", &id.pid, &id.start); n != 2 || id.pid <= 0 {
		return processIdentity{}, false
	}
	return id, id.alive()
}

// stopSupervisorProcess stops another process's supervision of the pod
// (SIGTERM, then wait), unless that process is this one. The signal goes
// through a pidfd opened after the identity check, so it reaches the
// recorded process or none.
func (e *Engine) stopSupervisorProcess(pod string) error {
	id, ok := e.supervisorProcess(pod)
	if !ok || id.pid == os.Getpid() {
		os.Remove(filepath.Join(e.podDir(pod), supervisorPIDFile))
		return nil
	}
	pidfd, err := unix.PidfdOpen(id.pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stopping the supervisor (pid %d) of pod %q: %w", id.pid, pod, err)
	}
	defer unix.Close(pidfd)
	if !id.alive() { // the pid was reused between the check and the open
		os.Remove(filepath.Join(e.podDir(pod), supervisorPIDFile))
		return nil
	}
	if err := unix.PidfdSendSignal(pidfd, unix.SIGTERM, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("stopping the supervisor (pid %d) of pod %q: %w", id.pid, pod, err)
	}
	if !waitPidfd(pidfd, supervisorStopTimeout) {
		unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		waitPidfd(pidfd, supervisorStopTimeout)
	}
	os.Remove(filepath.Join(e.podDir(pod), supervisorPIDFile))
	return nil
}

// waitPidfd waits up to d for the process to exit (a pidfd becomes
// readable when its process exits).
func waitPidfd(pidfd int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}
