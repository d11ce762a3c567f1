package agentsim

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"golang.org/x/sys/unix"
)

// The cgroups/mem isolator listens for OOM events on the container's
// memory cgroup; when the container (executor and everything beneath it,
// such as compod's pods) outgrows its memory limit, the containerizer
// destroys the whole container and the agent fails its tasks with
// REASON_CONTAINER_LIMITATION_MEMORY. On cgroup v1 the listener is an
// eventfd registered for memory.oom_control through cgroup.event_control,
// as the isolator does. (Not emulated on cgroup v2.)

// watchOOM starts the OOM listener of the executor's container; it ends
// when the cgroup is removed (the kernel signals the eventfd then too).
func (e *Executor) watchOOM() error {
	if e.cg == nil || e.cg.v2 {
		return nil
	}
	dir := e.cg.paths["memory"]
	if dir == "" {
		return nil
	}
	ctl, err := os.Open(filepath.Join(dir, "memory.oom_control"))
	if err != nil {
		return err
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		ctl.Close()
		return err
	}
	reg := fmt.Sprintf("%d %d", efd, ctl.Fd())
	if err := os.WriteFile(filepath.Join(dir, "cgroup.event_control"), []byte(reg), 0); err != nil {
		ctl.Close()
		unix.Close(efd)
		return fmt.Errorf("registering the OOM listener: %w", err)
	}
	go func() {
		defer ctl.Close()
		defer unix.Close(efd)
		buf := make([]byte, 8)
		if _, err := unix.Read(efd, buf); err != nil {
			return
		}
		if _, err := os.Stat(dir); err != nil {
			return // the cgroup is gone: the container was destroyed
		}
		// Like the isolator, any notification of a live cgroup is the
		// limitation (its counters may already be back to 0).
		e.memoryLimitation(dir)
	}()
	return nil
}

// memoryLimitation destroys the container for exceeding its memory, as
// the agent does after the isolator reports the limitation.
func (e *Executor) memoryLimitation(dir string) {
	limit, _ := os.ReadFile(filepath.Join(dir, "memory.limit_in_bytes"))
	usage, _ := os.ReadFile(filepath.Join(dir, "memory.max_usage_in_bytes"))
	a := e.a
	a.mu.Lock()
	if e.state == execTerminated {
		a.mu.Unlock()
		return
	}
	e.pendingTermination = &termination{
		state:  mesos.TASK_FAILED,
		reason: mesos.REASON_CONTAINER_LIMITATION_MEMORY,
		message: fmt.Sprintf("Memory limit exceeded: Requested: %sB Maximum Used: %sB",
			strings.TrimSpace(string(limit)), strings.TrimSpace(string(usage))),
		source: mesos.SOURCE_AGENT,
	}
	a.mu.Unlock()
	e.destroy("the container exceeded its memory limit")
}
