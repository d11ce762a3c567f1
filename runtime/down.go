package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/compod/compod/cgroups"
	"github.com/compod/compod/translate"
)

// DownOptions tune stopping a pod.
type DownOptions struct {
	// Timeout, when set, replaces every service's stop_grace_period.
	Timeout *time.Duration
	// Deadline, when set, bounds the whole stop: by then every service
	// has been SIGKILLed, whatever its grace period and whether or not
	// the services it waits for (dependents stop first) have stopped.
	Deadline time.Time
	// RemoveVolumes also removes the pod's named volumes (not external
	// ones), as `docker compose down -v` does; by default they are kept.
	RemoveVolumes bool
	// Released, when set, is called once what another pod may need next
	// is free: the services have stopped, the pod's network is detached
	// (its IP back in the pool, its port mappings gone) and its host port
	// claims are released. Down then removes the rest (containers,
	// snapshots, cgroups, state) before it returns. It is not called when
	// stopping the services or releasing the network fails: Down's error
	// says why. The Mesos executor sends a task's terminal update from it,
	// so that the next task on the agent can have the ports and the IP at
	// once.
	Released func()
}

// Stop stops every service of the pod (stop_signal, then SIGKILL when the
// grace period ends), dependents before their dependencies. The stopped
// tasks stay, with their exit codes, for `ps` and `logs` until Down.
func (e *Engine) Stop(ctx context.Context, pod string, opts DownOptions) error {
	ctx = e.withNS(ctx)
	if err := translate.ValidatePodName(pod); err != nil {
		return err
	}
	lock, err := e.lockPod(ctx, pod)
	if err != nil {
		return err
	}
	defer lock.unlock()
	rec, err := e.readRecord(pod)
	if err != nil {
		return err
	}
	if err := e.stopSupervisorProcess(pod); err != nil {
		return err
	}
	if !e.setStopping(pod) {
		// No supervisor here records the stop request: the exits it
		// causes are not failures for `ps` either.
		e.markStopped(pod)
	}
	return e.stopServices(ctx, rec, opts)
}

// Down stops the pod and removes everything it has: containers, tasks,
// snapshots, the CNI attachment, the netns, the cgroups and its state
// directory (logs included). It also cleans up after a launch that died
// half way, from whatever the record and the container labels say. While
// another compod process launches or removes the pod, Down waits for it
// (for as long as ctx allows) and then removes what is there.
func (e *Engine) Down(ctx context.Context, pod string, opts DownOptions) error {
	ctx = e.withNS(ctx)
	if err := translate.ValidatePodName(pod); err != nil {
		return err
	}
	lock, err := e.lockPod(ctx, pod)
	if err != nil {
		return err
	}
	defer lock.unlock()
	return e.down(ctx, pod, opts)
}

// down is Down for a caller that holds the pod's mutation lock.
func (e *Engine) down(ctx context.Context, pod string, opts DownOptions) error {
	rec, err := e.readRecord(pod)
	if errors.Is(err, ErrPodNotFound) {
		ctrs, lerr := e.podContainers(ctx, pod)
		if lerr != nil || len(ctrs) == 0 {
			return err
		}
		rec = &PodRecord{Plan: translate.PodPlan{Name: pod}, Namespace: e.namespace}
	} else if err != nil {
		return err
	}
	log := e.log.With("pod", pod)
	// Where a removal's time goes, at debug level (docs/performance.md).
	began := time.Now()
	phase := func(what string) { log.Debug("down: "+what, "elapsed", time.Since(began)) }
	// A detached `compod supervise` goes first: it holds the owner lock of
	// a pod started with `up -d`, and must not restart what is stopped.
	if err := e.stopSupervisorProcess(pod); err != nil {
		return err
	}
	phase("supervisor stopped")
	if rec.Owner != nil && !e.holdsOwner(pod) {
		err := e.acquireOwner(pod)
		switch {
		case err == nil:
			defer e.releaseOwner(pod)
		case errors.Is(err, ErrPodOwned) && rec.Owner["kind"] == OwnerKindCLI:
			// A foreground `compod up` runs it: `compod down` from
			// another terminal removes it all the same, as `docker
			// compose down` does, and that `up` then ends.
			log.Info("removing a pod that a foreground compod up runs")
		default:
			return fmt.Errorf("%w: stop it through its owner %v", err, rec.Owner)
		}
	}
	e.setStopping(pod)
	defer e.unsupervise(pod)
	var errs []error
	// The services stop gracefully first, dependents before their
	// dependencies, with the pod's network still up.
	if err := e.stopServices(ctx, rec, opts); err != nil {
		errs = append(errs, err)
	}
	phase("services stopped")
	if opts.Released != nil && len(errs) == 0 {
		if err := e.releaseNetwork(ctx, rec); err != nil {
			return fmt.Errorf("removing pod %q (its record is kept: run down again once this is fixed): %w", pod, err)
		}
		opts.Released()
		// The network is gone: what follows removes the containers only.
		detached := *rec
		detached.NetNSPath = ""
		rec = &detached
	}
	errs = append(errs, e.removeContainersAndNetwork(ctx, rec)...)
	phase("containers and network removed")
	errs = append(errs, e.removeLeftovers(ctx, rec)...)
	if rec.Cgroup != "" {
		if err := e.removePodCgroup(ctx, rec.Cgroup); err != nil {
			errs = append(errs, err)
		}
	}
	phase("leftovers and cgroup removed")
	if len(errs) > 0 {
		// Keep the record so `down` can be run again.
		return fmt.Errorf("removing pod %q (its record is kept: run down again once this is fixed): %w", pod, errors.Join(errs...))
	}
	// Nothing is left to supervise; the supervisor must not write to the
	// pod's directory while it is removed.
	e.unsupervise(pod)
	// Its host ports are free once its port mappings are gone; the claims
	// go before the record, which is what says they are live.
	if err := e.releasePodPorts(pod); err != nil {
		return fmt.Errorf("removing pod %q (its record is kept: run down again once this is fixed): %w", pod, err)
	}
	phase("host ports released")
	if opts.RemoveVolumes {
		if err := e.removeNamedVolumes(rec); err != nil {
			return fmt.Errorf("pod %q: %w (the pod's record is kept: run down -v again)", pod, err)
		}
	}
	if err := os.RemoveAll(e.podDir(pod)); err != nil {
		return fmt.Errorf("removing state of pod %q: %w", pod, err)
	}
	e.releaseOwner(pod)
	log.Info("pod removed")
	return nil
}

// releaseNetwork frees, once the services have stopped, what the next pod
// may need: it detaches the pod's network (CNI DEL: the IP goes back to
// the pool, the port mappings go) and then releases its host port claims,
// which say the mappings are live. Both are idempotent: a later Down does
// them again harmlessly.
func (e *Engine) releaseNetwork(ctx context.Context, rec *PodRecord) error {
	if rec.NetNSPath != "" {
		if err := e.detachNetwork(ctx, rec, e.netRequest(rec)); err != nil {
			return err
		}
	}
	return e.releasePodPorts(rec.Plan.Name)
}

// removePodCgroup removes the pod's cgroup in every hierarchy. When this
// process sees no cgroup hierarchy at all (an executor in a network
// namespace of its own, whose /sys the agent mounted anew), the host
// helper removes it where runc made it.
func (e *Engine) removePodCgroup(ctx context.Context, path string) error {
	if e.hostHelper && !e.cgroupsVisible {
		return e.RemoveCgroupTree(ctx, path)
	}
	return cgroups.Remove(path)
}

// removeContainersAndNetwork removes every container of the pod and its
// network at once: nothing runs any more that needs an order. The
// containers are all those labelled with the pod, also those the plan does
// not name (a record from an older plan, a launch that died half way). A
// host network helper is removed last: detaching may run one of its own.
func (e *Engine) removeContainersAndNetwork(ctx context.Context, rec *PodRecord) []error {
	pod := rec.Plan.Name
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		errs    []error
		helpers []client.Container
	)
	add := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	ctrs, err := e.podContainers(ctx, pod)
	add(err)
	for _, c := range ctrs {
		if c.ID() == hostHelperID(pod) {
			helpers = append(helpers, c)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			add(deleteContainer(ctx, c))
		}()
	}
	if rec.NetNSPath != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			add(e.detachNetwork(ctx, rec, e.netRequest(rec)))
		}()
	}
	wg.Wait()
	for _, c := range helpers {
		add(deleteContainer(ctx, c))
	}
	return errs
}

// stopServices stops the services in reverse dependency order: a service is
// stopped once every service that depends on it has stopped; independent
// services stop in parallel, so the whole pod takes about the longest grace
// period on any dependency chain, not their sum.
func (e *Engine) stopServices(ctx context.Context, rec *PodRecord, opts DownOptions) error {
	services := rec.Plan.Services
	stopped := map[string]chan struct{}{}
	dependents := map[string][]string{}
	for _, s := range services {
		stopped[s.Name] = make(chan struct{})
		for _, d := range s.DependsOn {
			dependents[d.Service] = append(dependents[d.Service], s.Name)
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	// Past the deadline nobody waits for anybody.
	late := context.Background()
	if !opts.Deadline.IsZero() {
		var cancel context.CancelFunc
		late, cancel = context.WithDeadline(late, opts.Deadline)
		defer cancel()
	}
	for i := range services {
		svc := &services[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(stopped[svc.Name])
			for _, d := range dependents[svc.Name] {
				select {
				case <-stopped[d]:
				case <-late.Done():
				}
			}
			if err := e.stopService(ctx, rec.Plan.Name, svc, opts); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (e *Engine) stopService(ctx context.Context, pod string, svc *translate.ServiceSpec, opts DownOptions) error {
	ctr, err := e.client.LoadContainer(ctx, serviceID(pod, svc.Name))
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("service %q: loading container: %w", svc.Name, err)
	}
	sig, err := stopSignal(ctx, ctr, svc)
	if err != nil {
		e.log.Warn("stop signal unknown, sending SIGTERM", "pod", pod, "service", svc.Name, "error", err)
		sig = syscall.SIGTERM
	}
	grace := svc.StopGracePeriod
	if opts.Timeout != nil {
		grace = *opts.Timeout
	}
	if !opts.Deadline.IsZero() {
		grace = max(min(grace, time.Until(opts.Deadline)), 0)
	}
	start := time.Now()
	// The pre_stop hooks and the stop signal share the grace period.
	grace = e.runPreStop(ctx, pod, ctr, svc, grace)
	if err := signalAndWait(ctx, ctr, sig, grace); err != nil {
		return fmt.Errorf("service %q: %w", svc.Name, err)
	}
	e.log.Info("service stopped", "pod", pod, "service", svc.Name, "elapsed", time.Since(start))
	return nil
}

// stopSignal is the service's stop_signal, else its image's STOPSIGNAL
// (recorded on the container when it was created), else SIGTERM: docker's
// order.
func stopSignal(ctx context.Context, ctr client.Container, svc *translate.ServiceSpec) (syscall.Signal, error) {
	if svc.StopSignal != "" {
		return translate.ParseSignal(svc.StopSignal)
	}
	return client.GetStopSignal(ctx, ctr, syscall.SIGTERM)
}

// podContainers lists the containers labelled with the pod's name that
// are this instance's (a pod of the same name of another instance that
// shares the namespace is not this pod).
func (e *Engine) podContainers(ctx context.Context, pod string) ([]client.Container, error) {
	ctrs, err := e.client.Containers(ctx, fmt.Sprintf("labels.%q==%s", LabelPod, pod))
	if err != nil {
		return nil, fmt.Errorf("listing containers of pod %q: %w", pod, err)
	}
	own := ctrs[:0]
	for _, c := range ctrs {
		labels, err := c.Labels(ctx)
		if errdefs.IsNotFound(err) {
			continue // removed since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("reading labels of container %s: %w", c.ID(), err)
		}
		if e.ownContainer(labels) {
			own = append(own, c)
		}
	}
	return own, nil
}

// otherInstancePod returns an error naming the compod instance when this
// namespace already has a container of the pod's name made by another
// instance (another state dir): container ids are the pod's name, so the
// two cannot both run it here.
func (e *Engine) otherInstancePod(ctx context.Context, pod string) error {
	ctrs, err := e.client.Containers(ctx, fmt.Sprintf("labels.%q==%s", LabelPod, pod))
	if err != nil {
		return fmt.Errorf("listing containers of pod %q: %w", pod, err)
	}
	for _, c := range ctrs {
		labels, err := c.Labels(ctx)
		if err != nil || e.ownContainer(labels) {
			continue
		}
		return fmt.Errorf("pod %q: containerd namespace %q already has a pod of this name, run by the compod instance with state dir %s: use another pod name or another --namespace", pod, e.namespace, labels[LabelStateDir])
	}
	return nil
}
