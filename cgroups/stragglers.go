package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// stragglerTimeout bounds how long Remove kills and waits for processes
// left in a pod's cgroups.
const stragglerTimeout = 10 * time.Second

// Why Remove kills processes: the pod's containers are gone by the time
// its cgroups are removed, but a container whose creation was under way
// when its compod was killed (SIGKILL in the middle of `up`) can still
// have a process: containerd goes on creating the task after the client
// is gone, its runc init joins the container's cgroup, and containerd
// undoes the creation moments later. Such a process is a container's (a
// containerd shim is among its ancestors) in the pod's cgroup: nothing
// else will ever want it, and the cgroup cannot be removed while it is
// there. Any other process found there (an operator's, moved in by hand)
// is left alone: the removal then fails naming the cgroup.

// killStragglers SIGKILLs every container process (underShim) in the
// cgroup tree at dir and waits for each to exit (by pidfd) until
// deadline. It reports whether it found any.
func killStragglers(dir string, deadline time.Time) (bool, error) {
	var pids []int
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
		if err != nil {
			return nil // removed meanwhile
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("listing the processes left in cgroup %s: %w", dir, err)
	}
	found := false
	for _, pid := range pids {
		if !underShim(pid) {
			continue
		}
		found = true
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // gone
		}
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		waitExit(fd, deadline)
		unix.Close(fd)
	}
	return found, nil
}

// underShim reports whether a containerd shim (containerd-shim-runc-v2,
// whose name the kernel keeps as "containerd-shim") is among the first
// few ancestors of pid: a container's process, or the runc that is
// creating one.
func underShim(pid int) bool {
	for range 4 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 2 {
			return false
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil || ppid <= 1 {
			return false
		}
		comm, err := os.ReadFile("/proc/" + strconv.Itoa(ppid) + "/comm")
		if err != nil {
			return false
		}
		if strings.HasPrefix(strings.TrimSpace(string(comm)), "containerd-shim") {
			return true
		}
		pid = ppid
	}
	return false
}

// waitExit waits until the process of pidfd has exited (the pidfd becomes
// readable) or deadline passes.
func waitExit(pidfd int, deadline time.Time) {
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); err != unix.EINTR {
			return
		}
	}
}
