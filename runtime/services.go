package runtime

import (
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/containerd/containerd/v2/client"

	"github.com/compod/compod/translate"
)

// Dependency conditions (compose depends_on).
const (
	ConditionStarted   = "service_started"
	ConditionHealthy   = "service_healthy"
	ConditionCompleted = "service_completed_successfully"
)

// startServices creates and starts every service once the services it
// depends on are ready; services with no order between them start in
// parallel. The first failure cancels the services still waiting.
func (e *Engine) startServices(ctx context.Context, rec *PodRecord, sup *supervisor, images map[string]client.Image, pausePID uint32, rb *rollback) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	started := map[string]chan struct{}{}
	tasks := map[string]client.Task{}
	var mu sync.Mutex
	for _, s := range rec.Plan.Services {
		started[s.Name] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for i := range rec.Plan.Services {
		svc := &rec.Plan.Services[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, dep := range svc.DependsOn {
				ch, ok := started[dep.Service]
				if !ok {
					continue // an optional dependency that is not in the pod
				}
				select {
				case <-ch:
				case <-ctx.Done():
					return
				}
				if dep.Condition == ConditionCompleted {
					mu.Lock()
					t := tasks[dep.Service]
					mu.Unlock()
					if err := e.waitCompleted(ctx, t, svc.Name, dep.Service); err != nil {
						cancel(err)
						return
					}
				}
				if dep.Condition == ConditionHealthy {
					if err := sup.waitHealthy(ctx, dep.Service); err != nil {
						cancel(fmt.Errorf("service %q: field \"depends_on\": condition %s on %q can never be met: %w", svc.Name, ConditionHealthy, dep.Service, err))
						return
					}
				}
			}
			task, err := e.startService(ctx, rec, svc, images[svc.Name], pausePID, rb)
			if err != nil {
				cancel(err)
				return
			}
			hc := svc.Healthcheck
			if hc == nil {
				if hc, err = imageHealthcheck(ctx, images[svc.Name]); err != nil {
					e.log.Warn("reading the image's healthcheck", "pod", rec.Plan.Name, "service", svc.Name, "err", err)
				}
			}
			sup.started(svc.Name, task, hc, false)
			mu.Lock()
			tasks[svc.Name] = task
			mu.Unlock()
			close(started[svc.Name])
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// waitCompleted waits for a dependency to exit 0 (service_completed_successfully).
func (e *Engine) waitCompleted(ctx context.Context, t client.Task, svc, dep string) error {
	ch, err := t.Wait(ctx)
	if err != nil {
		return fmt.Errorf("service %q: waiting for dependency %q to complete: %w", svc, dep, err)
	}
	select {
	case st := <-ch:
		if st.ExitCode() != 0 {
			return fmt.Errorf("service %q: field \"depends_on\": dependency %q exited with code %d, condition %s can never be met", svc, dep, st.ExitCode(), ConditionCompleted)
		}
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// startService creates one service container and starts its task.
func (e *Engine) startService(ctx context.Context, rec *PodRecord, svc *translate.ServiceSpec, img client.Image, pausePID uint32, rb *rollback) (client.Task, error) {
	pod := rec.Plan.Name
	specOpts, err := e.serviceSpecOpts(ctx, rec, svc, img, pausePID)
	if err != nil {
		return nil, err
	}
	labels := maps.Clone(svc.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, map[string]string{
		LabelPod: pod, LabelService: svc.Name, LabelRole: roleService,
		labelComposeProject: pod, labelComposeService: svc.Name,
	})
	maps.Copy(labels, e.instanceLabels())
	id := serviceID(pod, svc.Name)
	// The undo comes first: the snapshot is made before the container,
	// and either may exist when creating fails half way (leftovers.go).
	rb.add("remove container and snapshot "+id, func(ctx context.Context) error { return e.removeObject(e.withNS(ctx), pod, id) })
	cctx, cancel := createCtx(ctx)
	defer cancel()
	ctr, err := e.client.NewContainer(cctx, id,
		client.WithImage(img),
		client.WithNewSnapshot(id, img),
		client.WithNewSpec(specOpts...),
		client.WithContainerLabels(labels),
		// After the labels (which replace the map): the image's
		// STOPSIGNAL, used when the compose file names no stop_signal.
		client.WithImageStopSignal(img, "SIGTERM"),
	)
	if err != nil {
		return nil, fmt.Errorf("service %q: creating container %s: %w", svc.Name, id, err)
	}
	if err := e.copyUp(cctx, rec, svc, ctr); err != nil {
		return nil, fmt.Errorf("service %q: field \"volumes\": %w", svc.Name, err)
	}
	task, err := e.newTask(cctx, ctr, e.taskIO(rec, svc))
	if err != nil && svc.OOMScoreAdj < 0 {
		// runc's own error says nothing of it ("can't get final child's
		// PID from pipe"), and it is the likely cause.
		return nil, fmt.Errorf("service %q: field \"oom_score_adj\": creating task: %d lowers the OOM score, which needs CAP_SYS_RESOURCE where containerd and runc run (this host may not grant it: use a value ≥ 0): %w", svc.Name, svc.OOMScoreAdj, err)
	}
	if err != nil {
		return nil, fmt.Errorf("service %q: creating task (check command, user, working_dir and volumes): %w", svc.Name, err)
	}
	if err := task.Start(cctx); err != nil {
		return nil, fmt.Errorf("service %q: starting task: %w", svc.Name, err)
	}
	e.log.Info("service started", "pod", pod, "service", svc.Name, "pid", task.Pid())
	// The service counts as started (for the services that depend on
	// it) once its post_start hooks have run; a failing one fails the
	// launch, as it fails docker compose's start.
	if err := e.runHooks(ctx, pod, ctr, task, svc, hookPostStart, svc.PostStart); err != nil {
		return nil, err
	}
	return task, nil
}
