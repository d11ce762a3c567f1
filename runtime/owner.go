package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A pod launched with an owner (UpOptions.Owner: the Mesos executor says
// which framework, executor and container it belongs to) is held by its
// owning process through an exclusive flock on owner.lock in the pod's
// directory, from the start of the launch until the pod is removed. The
// kernel drops the lock when that process dies, however it dies (SIGKILL,
// the agent destroying its container, an OOM kill), and flock works
// across mount and PID namespaces, where pids and /proc do not. So "the
// owner is gone" is exactly "the lock can be taken", and Reclaim removes
// such pods without ever touching a pod whose owner is alive.
//
// Every pod compod launches has an owner: the executor's (kind
// "mesos-executor"), or, for `compod up`, kind "cli" (OwnerKindCLI): a
// foreground `up` holds the lock for the pod's life, and `up -d` hands its
// open lock file to the detached `compod supervise`, which holds it from
// then on (a flock belongs to the open file, so there is no gap). A pod
// whose owner is gone is garbage for `compod gc`: a launch killed half
// way, a pod whose `up` was killed, and also a pod stopped and kept after
// a foreground `up` ended. `compod down` of a CLI pod is the user's own
// request and removes it even while a foreground `up` in another terminal
// holds it (as `docker compose down` does); other owners' pods are only
// removed through their owner.
//
// The owner lock says who runs a pod, not who is changing it right now:
// that is the pod's mutation lock (podlock.go), held only for the span of
// a launch, a stop or a removal. Reclaim takes the mutation lock first
// (without waiting: a pod being launched or removed is skipped) and then
// the owner lock.

const ownerLockFile = "owner.lock"

// OwnerKindCLI is the owner "kind" of pods that `compod up` runs.
const OwnerKindCLI = "cli"

// ErrPodOwned is returned for a pod whose owning process is alive.
var ErrPodOwned = errors.New("the pod is held by its owner")

// acquireOwner takes the pod's owner lock for this engine (not waiting).
func (e *Engine) acquireOwner(pod string) error {
	e.ownMu.Lock()
	defer e.ownMu.Unlock()
	if _, ok := e.owned[pod]; ok {
		return nil
	}
	dir := e.podDir(pod)
	if err := mkdirMode(dir, modePodDir); err != nil {
		return fmt.Errorf("creating pod directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ownerLockFile), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("pod %q: opening owner lock: %w", pod, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("pod %q: %w (another compod process runs it)", pod, ErrPodOwned)
		}
		return fmt.Errorf("pod %q: taking owner lock: %w", pod, err)
	}
	e.owned[pod] = f
	return nil
}

// releaseOwner drops the pod's owner lock if this engine holds it.
func (e *Engine) releaseOwner(pod string) {
	e.ownMu.Lock()
	defer e.ownMu.Unlock()
	if f, ok := e.owned[pod]; ok {
		f.Close()
		delete(e.owned, pod)
	}
}

// holdsOwner reports whether this engine holds the pod's owner lock.
func (e *Engine) holdsOwner(pod string) bool {
	e.ownMu.Lock()
	defer e.ownMu.Unlock()
	_, ok := e.owned[pod]
	return ok
}

// Reclaim removes every pod of this engine's namespace and state dir that
// has an owner for which match is true and whose owning process is gone:
// its containers, snapshots, CNI attachment, netns pin and cgroups, and
// its parent cgroup (the dead owner's, e.g. an executor's Mesos container,
// which runc made in the hierarchies the agent does not manage) where it
// is empty. It returns the pods it removed. A pod whose owner is alive is
// never touched, nor is one being launched or removed (gc.go).
func (e *Engine) Reclaim(ctx context.Context, match func(owner map[string]string) bool) ([]string, error) {
	found, err := e.collect(ctx, match, false)
	var removed []string
	for _, p := range found {
		if p.Removed {
			removed = append(removed, p.Name)
		}
	}
	if serr := e.removeStaleHelpers(ctx); serr != nil {
		err = errors.Join(err, serr)
	}
	return removed, err
}

// TakeOwner makes this engine the owner of a pod whose owner is gone (to
// re-attach a supervisor: `compod supervise -p`). It fails while the
// owner is alive, and for a pod being launched or removed.
func (e *Engine) TakeOwner(pod string) error {
	if _, err := e.readRecord(pod); err != nil {
		return err
	}
	lock, err := e.tryLockPod(pod)
	if err != nil {
		return err
	}
	defer lock.unlock()
	if err := e.acquireOwner(pod); err != nil {
		if errors.Is(err, ErrPodOwned) {
			return fmt.Errorf("pod %q has a live supervisor: %w", pod, ErrPodOwned)
		}
		return err
	}
	return nil
}

// OwnerLockFile returns the open file through which this engine holds the
// pod's owner lock (nil if it does not hold it), to hand it to another
// process (AdoptOwner); the engine keeps its own copy until it lets go.
func (e *Engine) OwnerLockFile(pod string) *os.File {
	e.ownMu.Lock()
	defer e.ownMu.Unlock()
	return e.owned[pod]
}

// AdoptOwner makes this engine hold the pod's owner lock through f, the
// lock's open file handed over by the process that held it (`compod up -d`
// hands it to `compod supervise` as an inherited descriptor). A flock
// belongs to the open file, not to a process, so the lock stays held
// across the handover. f must be that lock, held.
func (e *Engine) AdoptOwner(pod string, f *os.File) error {
	if err := e.checkAdopted(pod, f); err != nil {
		f.Close()
		return fmt.Errorf("pod %q: taking over the owner lock: %w", pod, err)
	}
	// Not inherited any further by what this process runs.
	unix.CloseOnExec(int(f.Fd()))
	e.ownMu.Lock()
	defer e.ownMu.Unlock()
	if old, ok := e.owned[pod]; ok {
		old.Close()
	}
	e.owned[pod] = f
	return nil
}

func (e *Engine) checkAdopted(pod string, f *os.File) error {
	var got, want unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &got); err != nil {
		return err
	}
	if err := unix.Stat(filepath.Join(e.podDir(pod), ownerLockFile), &want); err != nil {
		return err
	}
	if got.Dev != want.Dev || got.Ino != want.Ino {
		return errors.New("the descriptor handed over is not the pod's owner lock")
	}
	// On the open file that holds the lock this succeeds at once; on any
	// other, the lock is someone else's (or nobody's: then it is ours now).
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("the descriptor handed over does not hold it: %w", ErrPodOwned)
		}
		return err
	}
	return nil
}

// staleHelperAge is how old a host helper container that belongs to no pod
// must be to count as left behind: a live one lives for a fraction of a
// second.
const staleHelperAge = time.Minute

// removeStaleHelpers removes host helper containers that belong to no pod
// (cgroup removals, see RemoveCgroupTree) and were left by a compod that
// was killed while one ran (an executor destroyed by its agent at exit).
func (e *Engine) removeStaleHelpers(ctx context.Context) error {
	ctx = e.withNS(ctx)
	ctrs, err := e.client.Containers(ctx, fmt.Sprintf("labels.%q==%s", LabelRole, roleHostHelper))
	if err != nil {
		return fmt.Errorf("listing host helpers: %w", err)
	}
	var errs []error
	for _, c := range ctrs {
		info, err := c.Info(ctx)
		if err != nil || info.Labels[LabelPod] != "" || time.Since(info.CreatedAt) < staleHelperAge {
			continue
		}
		if err := deleteContainer(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
