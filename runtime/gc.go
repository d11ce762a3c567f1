package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/compod/compod/translate"
)

// Garbage collection (`compod gc`, and the executor's Reclaim): a pod is
// garbage when its owner is gone (owner.go), which the owner lock tells
// exactly. gc works from the pod records of its state dir and namespace
// only: containerd namespaces are shared with other compod instances
// (other state dirs), whose pods it cannot judge. It never touches a pod
// being launched or removed (its mutation lock is held: podlock.go), nor a
// pod whose owner is alive, nor one without an owner recorded (made by an
// older compod, or by the runtime API without an owner), which is left to
// `compod down`.

// GCOptions tune a garbage collection.
type GCOptions struct {
	// DryRun lists what would be removed and removes nothing.
	DryRun bool
}

// GCPod is a pod whose owner is gone.
type GCPod struct {
	Name  string            `json:"name"`
	Owner map[string]string `json:"owner,omitempty"`
	// State is the pod's state as `compod ps` shows it, or "incomplete"
	// for a launch that died before it wrote the pod's record.
	State string `json:"state"`
	// Removed says whether this run removed it (false for a dry run, or
	// when removing failed: then Error says why).
	Removed bool   `json:"removed"`
	Error   string `json:"error,omitempty"`
}

// GC removes every pod of this engine's state dir and namespace whose
// owner is gone, in the order down uses (services killed, containers,
// snapshots, the CNI attachment before its netns, the launch lease,
// cgroups, then the state); with DryRun it only lists them. It is
// idempotent and safe to run while pods start and stop.
func (e *Engine) GC(ctx context.Context, opts GCOptions) ([]GCPod, error) {
	return e.collect(e.withNS(ctx), func(map[string]string) bool { return true }, opts.DryRun)
}

// collect finds (and unless dryRun removes) the pods whose owner matches
// and is gone.
func (e *Engine) collect(ctx context.Context, match func(owner map[string]string) bool, dryRun bool) ([]GCPod, error) {
	ctx = e.withNS(ctx)
	recs, err := e.records()
	if err != nil {
		return nil, err
	}
	var found []GCPod
	var errs []error
	for _, rec := range recs {
		pod := rec.Plan.Name
		if rec.Owner == nil {
			e.log.Debug("gc: leaving a pod that has no owner recorded to `compod down`", "pod", pod)
			continue
		}
		if !match(rec.Owner) || e.holdsOwner(pod) {
			continue
		}
		p, err := e.collectPod(ctx, pod, match, dryRun)
		if err != nil {
			errs = append(errs, err)
		}
		if p != nil {
			found = append(found, *p)
		}
	}
	// A launch killed after it made the pod directory and before it wrote
	// the record leaves a directory that holds nothing else: the record
	// comes before anything it names is made.
	if ents, err := os.ReadDir(e.podsDir()); err == nil {
		for _, ent := range ents {
			if !ent.IsDir() {
				continue
			}
			p, err := e.collectIncomplete(ent.Name(), dryRun)
			if err != nil {
				errs = append(errs, err)
			}
			if p != nil {
				found = append(found, *p)
			}
		}
	}
	return found, errors.Join(errs...)
}

// collectPod takes the pod's mutation lock and then its owner lock, both
// without waiting; when it gets both, the pod is garbage.
func (e *Engine) collectPod(ctx context.Context, pod string, match func(map[string]string) bool, dryRun bool) (*GCPod, error) {
	lock, err := e.tryLockPod(pod)
	if errors.Is(err, ErrPodBusy) {
		e.log.Debug("gc: skipping a pod being launched or removed", "pod", pod)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer lock.unlock()
	// Under the lock the record is the pod's now (it may have been
	// removed, or launched again, since the listing).
	rec, err := e.readRecord(pod)
	if errors.Is(err, ErrPodNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if rec.Owner == nil || !match(rec.Owner) {
		return nil, nil
	}
	if err := e.acquireOwner(pod); err != nil {
		if errors.Is(err, ErrPodOwned) {
			return nil, nil // its owner is alive
		}
		return nil, err
	}
	p := &GCPod{Name: pod, Owner: rec.Owner, State: "unknown"}
	// gc holds the pod's locks itself: what they say is about gc.
	if st, err := e.statusWith(ctx, rec, false); err == nil {
		p.State = string(st.State)
	}
	if dryRun {
		e.releaseOwner(pod)
		return p, nil
	}
	e.log.Info("removing a pod whose owner is gone", "pod", pod, "owner", rec.Owner, "state", p.State)
	zero := time.Duration(0)
	if err := e.down(ctx, pod, DownOptions{Timeout: &zero}); err != nil {
		e.releaseOwner(pod)
		p.Error = err.Error()
		return p, fmt.Errorf("removing pod %q: %w", pod, err)
	}
	p.Removed = true
	// The parent cgroup of a dead executor's pods (its Mesos container,
	// which runc made in the hierarchies the agent does not manage) goes
	// too once empty.
	if parent := path.Dir(rec.Cgroup); parent != "/" && parent != "." && parent != e.cgroupParent {
		if err := e.RemoveCgroupTree(ctx, parent); err != nil {
			return p, err
		}
	}
	return p, nil
}

// collectIncomplete removes a pod directory without a record, under the
// pod's locks.
func (e *Engine) collectIncomplete(pod string, dryRun bool) (*GCPod, error) {
	if translate.ValidatePodName(pod) != nil {
		return nil, nil // not a directory compod made
	}
	dir := e.podDir(pod)
	if _, err := os.Stat(filepath.Join(dir, recordFile)); !errors.Is(err, os.ErrNotExist) {
		return nil, nil // a record (or one that cannot be read: not ours to judge)
	}
	lock, err := e.tryLockPod(pod)
	if err != nil {
		return nil, nil // being launched or removed, or not a pod name at all
	}
	defer lock.unlock()
	if _, err := os.Stat(filepath.Join(dir, recordFile)); !errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if _, err := os.Stat(filepath.Join(dir, ownerLockFile)); err == nil {
		if err := e.acquireOwner(pod); err != nil {
			return nil, nil
		}
		defer e.releaseOwner(pod)
	}
	p := &GCPod{Name: pod, State: "incomplete"}
	if dryRun {
		return p, nil
	}
	if err := e.releasePodPorts(pod); err != nil {
		p.Error = err.Error()
		return p, err
	}
	if err := os.RemoveAll(dir); err != nil {
		p.Error = err.Error()
		return p, fmt.Errorf("removing the state of pod %q: %w", pod, err)
	}
	p.Removed = true
	return p, nil
}
