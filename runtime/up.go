package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/containerd/containerd/v2/client"

	"github.com/compod/compod/cgroups"
	"github.com/compod/compod/translate"
)

// UpOptions tune one launch.
type UpOptions struct {
	// Pull is the pull policy for every service ("missing" by default); a
	// service's own pull_policy wins unless this is "always" or "never".
	Pull string
	// PodCPUs and PodMemoryBytes limit the whole pod (its cgroup), for a
	// parent cgroup that carries no limits of its own (Mesos posix
	// isolation). Zero means no pod-level limit.
	PodCPUs        float64
	PodMemoryBytes int64
	// Timeout bounds the whole launch (images, sandbox, every start and
	// depends_on condition); zero means no bound.
	Timeout time.Duration
	// Owner, when set, says who runs the pod (e.g. the Mesos executor's
	// framework, executor and container); this process then holds the
	// pod's owner lock until the pod is removed, and Reclaim removes the
	// pod once this process is gone (owner.go).
	Owner map[string]string
	// PullProgress, when set, gets the progress of every image pull of
	// the launch, every half second or so and once at the end of each
	// pull (PullProgress.Done or Err). Images are pulled in parallel: it
	// is called from several goroutines at once, and should return
	// quickly. No call is made after Up returns.
	PullProgress func(PullProgress)
	// Networks, when set, are the pod's networks instead of the plan's
	// (a Mesos task's network_infos).
	Networks []translate.NetworkSpec
	// Labels are the launch's labels (a Mesos task's); those compod
	// reads (compod.bandwidth.*) win over the services' labels.
	Labels map[string]string
}

// Up runs a pod: images, sandbox, then services in depends_on order
// (services with no order between them in parallel). It returns once every
// service has started. On any failure everything it made is removed again
// and the error says which step, service and field failed; when something
// cannot be removed, the pod's record stays so that `compod down` (or gc)
// can finish the job, and the error says so.
func (e *Engine) Up(ctx context.Context, plan *translate.PodPlan, opts UpOptions) (_ *PodRecord, upErr error) {
	ctx = e.withNS(ctx)
	defer func() { upErr = locateFieldError(plan, upErr) }()
	if err := translate.ValidatePodName(plan.Name); err != nil {
		return nil, err
	}
	// Input is checked before anything is touched.
	refs := make([]serviceRef, 0, len(plan.Services))
	for _, s := range plan.Services {
		if _, err := translate.ParseSignal(s.StopSignal); err != nil {
			return nil, fmt.Errorf("service %q: field \"stop_signal\": %w", s.Name, err)
		}
		ref, err := NormalizeImage(s.Image)
		if err != nil {
			return nil, fmt.Errorf("service %q: field \"image\": invalid image reference %q: %w", s.Name, s.Image, err)
		}
		refs = append(refs, serviceRef{name: s.Name, image: ref, pullPolicy: s.PullPolicy})
	}
	if err := errors.Join(e.checkExternalVolumes(plan), prepareBindSources(plan)); err != nil {
		return nil, fmt.Errorf("pod %q: %w", plan.Name, err)
	}
	// The whole launch holds the pod's mutation lock (podlock.go): a
	// second `up` of the pod fails here, at once, before it could remove
	// or reuse anything of this launch's; `down` waits for it.
	lock, err := e.tryLockPod(plan.Name)
	if err != nil {
		return nil, err
	}
	defer lock.unlock()
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, opts.Timeout,
			fmt.Errorf("pod %q did not start within the launch timeout of %v", plan.Name, opts.Timeout))
		defer cancel()
	}
	log := e.log.With("pod", plan.Name)
	start := time.Now()
	if err := e.otherInstancePod(ctx, plan.Name); err != nil {
		return nil, err
	}
	if err := e.clearStale(ctx, plan); err != nil {
		return nil, err
	}
	// The owner lock is taken once a stopped pod of the same name is gone:
	// removing it removes its pod directory, and with it the lock file.
	if opts.Owner != nil {
		if err := e.acquireOwner(plan.Name); err != nil {
			return nil, err
		}
	}

	rb := &rollback{log: log, base: e.withNS(context.Background())}
	dir := e.podDir(plan.Name)
	ok := false
	defer func() {
		if ok {
			return
		}
		e.setStopping(plan.Name) // the rollback's kills are not failures to heal
		rbErr := rb.run()
		e.unsupervise(plan.Name) // before the pod's directory goes: it writes there
		if rbErr != nil {
			upErr = fmt.Errorf("%w; undoing the launch failed too, so the pod's record is kept for `compod down -p %s`: %v", upErr, plan.Name, rbErr)
		} else {
			// The host ports go with the pod's state: while a record is
			// kept, the pod's port mappings may be too.
			if err := e.releasePodPorts(plan.Name); err != nil {
				log.Error("releasing the host ports of a failed launch", "err", err)
			}
			if err := os.RemoveAll(dir); err != nil {
				log.Error("removing the state of a failed launch", "err", err)
			}
		}
		e.releaseOwner(plan.Name)
	}()

	// The networks first: an unknown network, a missing plugin or a bad
	// conf dir fails the launch before anything is pulled or made.
	nets, portNet, err := e.planNetworks(plan, opts.Networks, plan.Ports, opts.Labels)
	if err != nil {
		return nil, fmt.Errorf("pod %q: %w", plan.Name, err)
	}
	rec := &PodRecord{Plan: *plan, Namespace: e.namespace, Instance: e.instance, Created: time.Now().UTC(),
		Cgroup: e.podCgroup(plan.Name), CNIID: e.cniID(plan.Name), Owner: opts.Owner,
		Networks: nets, NetworkMode: plan.NetworkMode, VolumesDir: e.VolumesDir(), LogDir: e.logDirOverride, Launching: true}
	if len(nets) > 0 {
		first := nets[0].Request.Config
		rec.CNI = &first
	}
	if err := e.validateNetworks(ctx, rec); err != nil {
		return nil, fmt.Errorf("pod %q: %w", plan.Name, err)
	}
	if err := mkdirMode(dir, modePodDir); err != nil {
		return nil, fmt.Errorf("creating pod directory: %w", err)
	}
	ports, err := e.assignPorts(plan)
	if err != nil {
		return nil, err
	}
	rec.Ports = ports
	// The network that publishes the ports gets them with their host
	// ports (the conf dir is not read again: the networks validated
	// above are the ones attached).
	publishAssigned(rec.Networks, ports, portNet)
	// The record comes before anything it names is made, so that `down`
	// and Reclaim find whatever a launch that died left behind.
	if err := e.writeRecord(rec); err != nil {
		return nil, err
	}
	rb.add("remove pod cgroup", func(ctx context.Context) error { return e.removePodCgroup(e.withNS(ctx), rec.Cgroup) })
	if err := cgroups.Apply(rec.Cgroup, cgroups.Limits{CPUs: opts.PodCPUs, MemoryBytes: opts.PodMemoryBytes}); err != nil {
		return nil, fmt.Errorf("pod %q: setting pod limits: %w", plan.Name, err)
	}
	if err := e.makeVolumes(rec, rb); err != nil {
		return nil, fmt.Errorf("pod %q: %w", plan.Name, err)
	}
	// Everything from here on is made under the pod's launch lease
	// (leftovers.go); it goes last, once the containers are gone.
	rb.add("delete launch lease", func(ctx context.Context) error {
		return e.deleteLaunchLease(e.withNS(ctx), e.instance, plan.Name, true)
	})
	if ctx, err = e.withLaunchLease(ctx, plan.Name); err != nil {
		return nil, err
	}

	// Images first: a missing image is the most common failure and costs
	// nothing to roll back.
	type pauseResult struct {
		img client.Image
		err error
	}
	pauseC := make(chan pauseResult, 1)
	go func() {
		img, err := e.ensureSandboxImage(ctx, opts.PullProgress)
		pauseC <- pauseResult{img, err}
	}()
	images, err := e.ensureImages(ctx, refs, opts.Pull, opts.PullProgress)
	pause := <-pauseC
	if err = errors.Join(err, pause.err); err != nil {
		return nil, fmt.Errorf("pod %q: %w", plan.Name, err)
	}
	log.Debug("images ready", "elapsed", time.Since(start))
	warnPortClashes(ctx, log, plan, images)

	pausePID, err := e.createSandbox(ctx, rec, pause.img, rb)
	if err != nil {
		return nil, err
	}
	log.Debug("sandbox ready", "ip", rec.IP, "elapsed", time.Since(start))

	sup := e.supervise(rec, false)
	if err := e.startServices(ctx, rec, sup, images, pausePID, rb); err != nil {
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
			err = cause
		}
		return nil, fmt.Errorf("pod %q: %w", plan.Name, err)
	}
	rec.Launching = false
	if err := e.writeRecord(rec); err != nil {
		return nil, fmt.Errorf("pod %q: recording that the launch completed: %w", plan.Name, err)
	}
	ok = true
	// The containers hold their snapshots now; the lease has done its job.
	if err := e.deleteLaunchLease(context.WithoutCancel(ctx), e.instance, plan.Name, false); err != nil {
		log.Warn("the pod started, but its launch lease stays until `compod down`", "err", err)
	}
	log.Info("pod started", "ip", rec.IP, "services", len(plan.Services), "elapsed", time.Since(start))
	return rec, nil
}

// clearStale makes room for a new pod of this name: a pod that has stopped
// (every service exited) is removed, as `docker compose up` recreates
// stopped containers; a running one is an error. The caller holds the
// pod's mutation lock.
func (e *Engine) clearStale(ctx context.Context, plan *translate.PodPlan) error {
	pod := plan.Name
	st, err := e.Status(ctx, pod)
	if errors.Is(err, ErrPodNotFound) {
		// A supervisor this engine still has for the name watched a pod
		// that another process removed: its exits and health are not the
		// new pod's.
		e.dropSupervisor(pod)
		return e.removeOrphanSnapshots(ctx, plan)
	}
	if err != nil {
		return err
	}
	for _, s := range st.Services {
		if s.State == StateRunning {
			return fmt.Errorf("pod %q is already running (service %q): run `compod down -p %s` first", pod, s.Name, pod)
		}
	}
	e.log.Info("removing stopped pod before starting it again", "pod", pod)
	return e.down(ctx, pod, DownOptions{})
}
