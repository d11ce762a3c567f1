package runtime

import (
	"context"
	"fmt"
	"sync"

	"github.com/containerd/errdefs"
)

// Wait blocks until every service of the pod has exited (or ctx ends) and
// returns their exit codes. It waits on containerd's task exit, not by
// polling.
func (e *Engine) Wait(ctx context.Context, pod string) (map[string]uint32, error) {
	ctx = e.withNS(ctx)
	rec, err := e.readRecord(pod)
	if err != nil {
		return nil, err
	}
	var (
		mu    sync.Mutex
		codes = map[string]uint32{}
		errs  []error
		wg    sync.WaitGroup
	)
	for _, s := range rec.Plan.Services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, err := e.waitService(ctx, pod, s.Name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			codes[s.Name] = code
		}()
	}
	wg.Wait()
	return codes, joinErrs(errs)
}

func (e *Engine) waitService(ctx context.Context, pod, service string) (uint32, error) {
	ctr, err := e.client.LoadContainer(ctx, serviceID(pod, service))
	if err != nil {
		return 0, fmt.Errorf("service %q: %w", service, err)
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("service %q: %w", service, err)
	}
	ch, err := task.Wait(ctx)
	if err != nil {
		return 0, fmt.Errorf("service %q: waiting: %w", service, err)
	}
	select {
	case st := <-ch:
		return st.ExitCode(), st.Error()
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}
