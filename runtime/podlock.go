package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A pod has two locks, for two different questions:
//
//   - The mutation lock (this file) answers "is some compod process
//     changing this pod right now?". It is held for the span of one
//     operation that makes or removes a pod's parts: a whole launch (Up,
//     including removing a stopped pod of the same name first), Down, Stop
//     and Reclaim/GC's removal. Two such operations on one pod never
//     interleave: a second `up` of a pod being launched fails at once, a
//     `down` during an `up` waits for the launch to end and then removes
//     the pod, and GC skips a pod that is being launched or removed.
//   - The owner lock (owner.go) answers "is the process that runs this pod
//     still alive?". It is held for the pod's whole life by the process
//     that runs it (the executor, a foreground `compod up`, the detached
//     `compod supervise` of `up -d`), and only ever taken without waiting.
//
// The mutation lock is an exclusive flock on <state>/locks/<pod>.lock.
// The file lives outside the pod directory and is never removed: Down
// removes the pod directory, and a lock on a file that is unlinked and
// made again would let two processes hold "the" lock at once. Like the
// owner lock, the kernel drops it when its holder dies however it dies,
// so a killed `up` never leaves a pod locked. It is taken before the
// owner lock wherever both are needed; the owner lock is never waited
// for, so the two cannot deadlock.

const locksDirName = "locks"

// ErrPodBusy is returned when another operation holds a pod's mutation lock.
var ErrPodBusy = errors.New("being started or removed by another compod process")

// Waiting for a busy pod polls the lock: flock(2) cannot be cancelled by a
// context, and a goroutine blocked in it would outlive the call (and take
// the lock after its caller gave up).
const (
	lockPollMin = 10 * time.Millisecond
	lockPollMax = 200 * time.Millisecond
)

// podLock is a held mutation lock.
type podLock struct{ f *os.File }

func (e *Engine) podLockPath(pod string) string {
	return filepath.Join(e.stateDir, locksDirName, pod+".lock")
}

// tryLockPod takes the pod's mutation lock without waiting; when another
// process (or another operation of this one) holds it, the error wraps
// ErrPodBusy and names the holder's pid. The pod name must have been
// validated: it names a file.
func (e *Engine) tryLockPod(pod string) (*podLock, error) {
	path := e.podLockPath(pod)
	if err := mkdirMode(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("pod %q: creating lock directory: %w", pod, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pod %q: opening lock: %w", pod, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, busyError(pod, path)
		}
		return nil, fmt.Errorf("pod %q: taking lock: %w", pod, err)
	}
	// The pid is only for the message others get; it is in this process's
	// PID namespace, which may not be theirs.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &podLock{f: f}, nil
}

// lockPod takes the pod's mutation lock, waiting while another operation
// holds it, for as long as ctx allows.
func (e *Engine) lockPod(ctx context.Context, pod string) (*podLock, error) {
	l, err := e.tryLockPod(pod)
	if !errors.Is(err, ErrPodBusy) {
		return l, err
	}
	e.log.Info("waiting for another compod process to finish with the pod", "pod", pod, "err", err)
	t := time.NewTimer(lockPollMin)
	defer t.Stop()
	for delay := lockPollMin; ; delay = min(2*delay, lockPollMax) {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: gave up waiting: %w", err, context.Cause(ctx))
		case <-t.C:
		}
		l, err = e.tryLockPod(pod)
		if !errors.Is(err, ErrPodBusy) {
			return l, err
		}
		t.Reset(delay)
	}
}

// unlock releases the lock; the pid goes first so nobody names a process
// that no longer holds it.
func (l *podLock) unlock() {
	l.f.Truncate(0)
	l.f.Close()
}

// busyError names the lock's holder. A holder writes its pid just after
// it takes the lock, so a reader that finds the file empty looks again for
// a moment rather than say "pid unknown" when two launches start at once.
func busyError(pod, path string) error {
	holder := "pid unknown"
	for try := 0; try < 10; try++ {
		if pid := lockHolder(path); pid > 0 {
			holder = "pid " + strconv.Itoa(pid)
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("pod %q is %w (%s)", pod, ErrPodBusy, holder)
}

func lockHolder(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}
