package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// rollback records how to undo each step of a launch, so a launch that fails
// at any point removes everything it made, in reverse order.
type rollback struct {
	mu    sync.Mutex // services are created in parallel
	steps []rollbackStep
	log   *slog.Logger
	// base is the context the undo steps run in: the engine's namespace,
	// but neither the launch's cancellation nor its lease (which is
	// deleted by one of the steps).
	base context.Context
}

type rollbackStep struct {
	what string
	undo func(context.Context) error
}

func (r *rollback) add(what string, undo func(context.Context) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, rollbackStep{what, undo})
}

// run undoes every recorded step, newest first, and returns what failed.
// It uses its own context: the launch's context is often the thing that
// was cancelled. A step that fails does not stop the others; the caller
// keeps the pod's record unless every step succeeded, so that `down` (or
// gc) can finish the job.
func (r *rollback) run() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.base, 2*time.Minute)
	defer cancel()
	var errs []error
	for i := len(r.steps) - 1; i >= 0; i-- {
		s := r.steps[i]
		if err := s.undo(ctx); err != nil {
			r.log.Error("rolling back failed launch", "step", s.what, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", s.what, err))
		}
	}
	r.steps = nil
	return errors.Join(errs...)
}
