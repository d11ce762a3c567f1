package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
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
// The owner lock says who runs a pod, not who is changing it right now:
// that is the pod's mutation lock (podlock.go), held only for the span of
// a launch, a stop or a removal. Reclaim takes the mutation lock first
// (without waiting: a pod being launched or removed is skipped) and then
// the owner lock.

const ownerLockFile = "owner.lock"

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
// never touched.
func (e *Engine) Reclaim(ctx context.Context, match func(owner map[string]string) bool) ([]string, error) {
	ctx = e.withNS(ctx)
	recs, err := e.records()
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	zero := time.Duration(0)
	for _, rec := range recs {
		pod := rec.Plan.Name
		if rec.Owner == nil || !match(rec.Owner) {
			continue
		}
		// A pod being launched or removed is not garbage, whoever does it.
		lock, err := e.tryLockPod(pod)
		if err != nil {
			if !errors.Is(err, ErrPodBusy) {
				errs = append(errs, err)
			}
			continue
		}
		if err := e.acquireOwner(pod); err != nil {
			lock.unlock()
			if !errors.Is(err, ErrPodOwned) {
				errs = append(errs, err)
			}
			continue
		}
		e.log.Info("reclaiming a pod whose owner is gone", "pod", pod, "owner", rec.Owner)
		err = e.down(ctx, pod, DownOptions{Timeout: &zero})
		lock.unlock()
		if err != nil {
			e.releaseOwner(pod)
			errs = append(errs, fmt.Errorf("reclaiming pod %q: %w", pod, err))
			continue
		}
		if parent := path.Dir(rec.Cgroup); parent != "/" && parent != "." && parent != e.cgroupParent {
			if err := e.RemoveCgroupTree(ctx, parent); err != nil {
				errs = append(errs, err)
			}
		}
		removed = append(removed, pod)
	}
	if err := e.removeStaleHelpers(ctx); err != nil {
		errs = append(errs, err)
	}
	return removed, errors.Join(errs...)
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
