package runtime

import (
	"context"
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

// run undoes every recorded step, newest first. It uses its own context:
// the launch's context is often the thing that was cancelled.
func (r *rollback) run() {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := len(r.steps) - 1; i >= 0; i-- {
		s := r.steps[i]
		if err := s.undo(ctx); err != nil {
			r.log.Error("rolling back failed launch", "step", s.what, "err", err)
		}
	}
	r.steps = nil
}
