package runtime

import (
	"context"
	"fmt"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"

	"github.com/compod/compod/runtime/podstate"
)

// The supervisor's event source: one containerd event subscription per
// pod, and a reconcile by listing its tasks after every (re)subscription,
// turned into podstate events.

// Reconnect backoff for the event subscription: containerd restarting is
// normal (tasks live on in their shims), so compod keeps trying.
const (
	resubscribeMin = 100 * time.Millisecond
	resubscribeMax = 5 * time.Second
)

func (s *supervisor) run(ctx context.Context, ready chan struct{}, adopt bool) {
	log := s.e.log.With("pod", s.rec.Plan.Name)
	backoff := resubscribeMin
	first := true
	for ctx.Err() == nil {
		subCtx, cancel := context.WithCancel(ctx)
		evC, errs := s.e.client.Subscribe(subCtx,
			fmt.Sprintf(`namespace==%s,topic~="^/tasks/(exit|oom|delete)$"`, s.e.namespace))
		if first {
			close(ready)
			first = false
		}
		// Reconcile after subscribing: whatever happens from here on
		// arrives as an event, whatever happened before is in the status.
		if err := s.reconcile(ctx); err != nil {
			log.Warn("pod monitor: containerd not reachable, retrying", "err", err, "backoff", backoff)
			cancel()
			if !sleepCtx(ctx, backoff) {
				break
			}
			backoff = min(backoff*2, resubscribeMax)
			continue
		}
		backoff = resubscribeMin
		if adopt {
			s.adopt(ctx)
			adopt = false
		}
		err := s.consume(ctx, evC, errs)
		cancel()
		if ctx.Err() != nil {
			break
		}
		log.Warn("pod monitor: event stream lost, resubscribing", "err", err)
	}
	s.closeWatchers()
}

// consume handles events until the subscription fails.
func (s *supervisor) consume(ctx context.Context, evC <-chan *events.Envelope, errs <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return err
		case env, ok := <-evC:
			if !ok {
				return fmt.Errorf("event stream closed")
			}
			ev, err := typeurl.UnmarshalAny(env.Event)
			if err != nil {
				continue
			}
			switch ev := ev.(type) {
			case *apievents.TaskExit:
				svc, ok := s.ids[ev.ContainerID]
				if !ok || ev.ID != ev.ContainerID { // not ours, or an exec (health probe)
					continue
				}
				s.apply(podstate.TaskExited{Service: svc, ExitCode: ev.ExitStatus})
			case *apievents.TaskDelete:
				if svc, ok := s.ids[ev.ContainerID]; ok && ev.ID == ev.ContainerID {
					s.apply(podstate.TaskVanished{Service: svc})
				}
			case *apievents.TaskOOM:
				if svc, ok := s.ids[ev.ContainerID]; ok {
					s.apply(podstate.TaskOOM{Service: svc})
				}
			}
		}
	}
}

// reconcile reads every service's task status, for exits missed while the
// event stream was down.
func (s *supervisor) reconcile(ctx context.Context) error {
	snap, err := s.e.taskSnapshot(ctx, s.rec)
	if err != nil {
		return err
	}
	s.apply(snap)
	return nil
}

// taskSnapshot lists the status of every service's task.
func (e *Engine) taskSnapshot(ctx context.Context, rec *PodRecord) (podstate.Snapshot, error) {
	snap := podstate.Snapshot{Tasks: map[string]podstate.TaskSnapshot{}}
	for _, svc := range rec.Plan.Services {
		ctr, err := e.client.LoadContainer(ctx, serviceID(rec.Plan.Name, svc.Name))
		if errdefs.IsNotFound(err) {
			snap.Tasks[svc.Name] = podstate.TaskSnapshot{Missing: true}
			continue
		}
		if err != nil {
			return snap, err
		}
		task, err := ctr.Task(ctx, nil)
		if errdefs.IsNotFound(err) {
			snap.Tasks[svc.Name] = podstate.TaskSnapshot{Missing: true}
			continue
		}
		if err != nil {
			return snap, err
		}
		st, err := task.Status(ctx)
		if err != nil {
			return snap, err
		}
		if st.Status == client.Stopped {
			snap.Tasks[svc.Name] = podstate.TaskSnapshot{Exited: true, ExitCode: st.ExitStatus}
		} else {
			snap.Tasks[svc.Name] = podstate.TaskSnapshot{}
		}
	}
	return snap, nil
}
