package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/errdefs"

	"github.com/compod/compod/translate"
)

// Removing a pod by what its record names, not by what a launch got as
// far as telling compod it made. A launch can end at any point (a service
// failing beside others that are being created, a timeout, Ctrl-C, a
// SIGKILL), and containerd makes things in steps of its own: a container's
// snapshot before the container, and a container or snapshot whose call
// the client gave up on can still be made by containerd. So:
//
//   - every container id compod uses for a pod, which is also the key of
//     the container's snapshot, follows from the pod's plan (podObjectIDs),
//     and removal tries each of them, container and snapshot, whether or
//     not the container was ever made;
//   - a launch runs under a containerd lease of its own with a known id
//     (launchLeaseID) instead of the client's per-call leases, which a
//     cancelled call leaves for 24 hours: whatever the launch made that no
//     container holds (a snapshot, pulled content) is released when the
//     lease is deleted — when the launch succeeds, by its rollback, or by
//     `down` or gc for a launch that died;
//   - creation calls that have begun are not cancelled half way
//     (createCtx), so the rollback, which runs after them, sees what they
//     made.

// podObjectIDs are the ids of every container compod makes for the pod:
// the pause container, the services and the host network helper
// (labels.go, hosthelper.go). Each is also its snapshot's key.
func podObjectIDs(plan *translate.PodPlan) []string {
	ids := []string{sandboxID(plan.Name), hostHelperID(plan.Name)}
	for _, s := range plan.Services {
		ids = append(ids, serviceID(plan.Name, s.Name))
	}
	return ids
}

// removeObject removes the pod's container id (its task killed) and the
// snapshot of that key, whichever of them exists. A container of that id
// that belongs to another pod (pod "a" with service "b_c" and pod "a_b"
// with service "c" share ids), or to a pod of the same name of another
// compod instance in this namespace, is left alone, and so is its
// snapshot.
func (e *Engine) removeObject(ctx context.Context, pod, id string) error {
	ctr, err := e.client.LoadContainer(ctx, id)
	switch {
	case err == nil:
		labels, err := ctr.Labels(ctx)
		if err != nil {
			return fmt.Errorf("reading labels of container %s: %w", id, err)
		}
		if owner := labels[LabelPod]; owner != pod {
			e.log.Warn("not removing a container of another pod", "pod", pod, "container", id, "its_pod", owner)
			return nil
		}
		if !e.ownContainer(labels) {
			e.log.Warn("not removing a container of another compod instance", "pod", pod, "container", id,
				"its_instance", labels[LabelInstance], "its_state_dir", labels[LabelStateDir])
			return nil
		}
		if err := deleteContainer(ctx, ctr); err != nil {
			return err
		}
	case !errdefs.IsNotFound(err):
		return fmt.Errorf("loading container %s: %w", id, err)
	}
	return e.removeSnapshot(ctx, id)
}

// removeSnapshot removes the snapshot key, if it exists.
func (e *Engine) removeSnapshot(ctx context.Context, key string) error {
	name, err := e.snapshotterName(ctx)
	if err != nil {
		return err
	}
	if err := e.client.SnapshotService(name).Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("removing snapshot %s: %w", key, err)
	}
	return nil
}

// snapshotterName is the snapshotter client.WithNewSnapshot uses for
// compod's containers: the namespace's default, else containerd's.
func (e *Engine) snapshotterName(ctx context.Context) (string, error) {
	label, err := e.client.GetLabel(ctx, defaults.DefaultSnapshotterNSLabel)
	if err != nil {
		return "", fmt.Errorf("reading the namespace's snapshotter: %w", err)
	}
	if label != "" {
		return label, nil
	}
	return defaults.DefaultSnapshotter, nil
}

// removeOrphanSnapshots removes the snapshots of the plan's ids that no
// container uses: what a launch of an older compod left when it failed
// (it did not remove them by name), which would make this launch fail
// with `snapshot "<pod>_<service>": already exists`. The caller holds
// the mutation lock and there is no record of the pod.
func (e *Engine) removeOrphanSnapshots(ctx context.Context, plan *translate.PodPlan) error {
	var errs []error
	for _, id := range podObjectIDs(plan) {
		if _, err := e.client.LoadContainer(ctx, id); !errdefs.IsNotFound(err) {
			continue // in use, or containerd cannot say: creating it will
		}
		errs = append(errs, e.removeSnapshot(ctx, id))
	}
	return errors.Join(errs...)
}

// launchLeaseID names the lease a launch of the pod runs under. Leases
// live in a containerd namespace, which two instances (two state dirs)
// may share, so it carries the instance; instance "" is the name an
// older compod used.
func launchLeaseID(instance, pod string) string {
	if instance == "" {
		return "compod-" + pod
	}
	return "compod-" + instance + "-" + pod
}

// withLaunchLease makes (or takes over, from a launch that died) the
// pod's launch lease and returns ctx carrying it, so every containerd call
// of the launch (pulls, snapshots, containers) is held by it rather than
// by a lease of its own. It has no expiry: it is deleted when the launch
// ends, or by `down` or gc.
func (e *Engine) withLaunchLease(ctx context.Context, pod string) (context.Context, error) {
	id := launchLeaseID(e.instance, pod)
	_, err := e.client.LeasesService().Create(ctx, leases.WithID(id), leases.WithLabels(map[string]string{LabelPod: pod}))
	if err != nil && !errdefs.IsAlreadyExists(err) {
		return ctx, fmt.Errorf("pod %q: creating containerd lease %s: %w", pod, id, err)
	}
	return leases.WithLease(ctx, id), nil
}

// deleteLaunchLease deletes the launch lease of the pod of instance (its
// record's, see launchLeaseID), if there is one. With
// sync, containerd's garbage collection has released what the lease alone
// held by the time it returns, so the next launch of the pod finds nothing
// in its way.
func (e *Engine) deleteLaunchLease(ctx context.Context, instance, pod string, sync bool) error {
	var opts []leases.DeleteOpt
	if sync {
		opts = append(opts, leases.SynchronousDelete)
	}
	id := launchLeaseID(instance, pod)
	err := e.client.LeasesService().Delete(ctx, leases.Lease{ID: id}, opts...)
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("deleting containerd lease %s: %w", id, err)
	}
	return nil
}

// removeLeftovers removes, after the pod's containers and network, what a
// launch may have made without compod knowing: the containers and
// snapshots of every id the record's plan implies, then the launch lease.
func (e *Engine) removeLeftovers(ctx context.Context, rec *PodRecord) []error {
	var errs []error
	for _, id := range podObjectIDs(&rec.Plan) {
		if err := e.removeObject(ctx, rec.Plan.Name, id); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.deleteLaunchLease(ctx, rec.Instance, rec.Plan.Name, true); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// createTimeout bounds a creation call that runs on after its launch was
// cancelled (createCtx).
const createTimeout = time.Minute

// createCtx is the context for a call that makes something (a container,
// a task, a network attachment): it carries ctx's values (the namespace,
// the launch lease) but not its cancellation. A launch that is cancelled
// (another service failed, its timeout, Ctrl-C) lets a call that has begun
// finish, and its rollback then removes what the call made; cancelled half
// way, the call could still make it in containerd after the rollback had
// looked.
func createCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), createTimeout)
}
