package runtime

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
)

// Reconnect backoff for the event subscription: containerd restarting is
// normal (tasks live on in their shims), so compod keeps trying.
const (
	resubscribeMin = 100 * time.Millisecond
	resubscribeMax = 5 * time.Second
	// oomGrace is how long an exit by SIGKILL waits for the OOM event that
	// may explain it: containerd's shim reports the two independently.
	oomGrace = 250 * time.Millisecond
)

// Watch reports a pod's state changes, learned from containerd's event
// stream (/tasks/exit, /tasks/oom), never by polling. It first sends the
// current state. If containerd restarts, it resubscribes with backoff and
// then reconciles by asking each task for its status, so an exit missed
// during the outage is still reported, once. The channel closes when ctx
// ends.
func (e *Engine) Watch(ctx context.Context, pod string) (<-chan PodState, error) {
	ctx = e.withNS(ctx)
	rec, err := e.readRecord(pod)
	if err != nil {
		return nil, err
	}
	out := make(chan PodState, 16)
	w := &podWatch{e: e, rec: rec, out: out, exits: map[string]uint32{}, oom: map[string]bool{}, ids: map[string]string{}}
	for _, s := range rec.Plan.Services {
		w.ids[serviceID(pod, s.Name)] = s.Name
	}
	go w.run(ctx)
	return out, nil
}

type podWatch struct {
	e     *Engine
	rec   *PodRecord
	out   chan PodState
	ids   map[string]string // container id → service
	exits map[string]uint32
	oom   map[string]bool
	last  *PodState
}

func (w *podWatch) run(ctx context.Context) {
	defer close(w.out)
	log := w.e.log.With("pod", w.rec.Plan.Name)
	backoff := resubscribeMin
	for ctx.Err() == nil {
		subCtx, cancel := context.WithCancel(ctx)
		evC, errs := w.e.client.Subscribe(subCtx,
			fmt.Sprintf(`namespace==%s,topic~="^/tasks/(exit|oom)$"`, w.e.namespace))
		// Reconcile after subscribing: whatever happens from here on
		// arrives as an event, whatever happened before is in the status.
		if err := w.reconcile(ctx); err != nil {
			log.Warn("pod monitor: containerd not reachable, retrying", "err", err, "backoff", backoff)
			cancel()
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, resubscribeMax)
			continue
		}
		backoff = resubscribeMin
		w.publish(ctx)
		err := w.consume(ctx, evC, errs)
		cancel()
		if ctx.Err() != nil {
			return
		}
		log.Warn("pod monitor: event stream lost, resubscribing", "err", err)
	}
}

// consume handles events until the subscription fails.
func (w *podWatch) consume(ctx context.Context, events <-chan *events.Envelope, errs <-chan error) error {
	var pendingKill <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return err
		case <-pendingKill:
			pendingKill = nil
			w.publish(ctx)
		case env, ok := <-events:
			if !ok {
				return fmt.Errorf("event stream closed")
			}
			ev, err := typeurl.UnmarshalAny(env.Event)
			if err != nil {
				continue
			}
			switch ev := ev.(type) {
			case *apievents.TaskExit:
				svc, ok := w.ids[ev.ContainerID]
				if !ok || ev.ID != ev.ContainerID { // not ours, or an exec (health probe)
					continue
				}
				w.exits[svc] = ev.ExitStatus
				if ev.ExitStatus == 137 && !w.oom[svc] {
					// Give the OOM event a moment to arrive and name the cause.
					pendingKill = time.After(oomGrace)
					continue
				}
				w.publish(ctx)
			case *apievents.TaskOOM:
				if svc, ok := w.ids[ev.ContainerID]; ok {
					w.oom[svc] = true
					if _, exited := w.exits[svc]; exited {
						w.publish(ctx)
					}
				}
			}
		}
	}
}

// reconcile reads every service's task status.
func (w *podWatch) reconcile(ctx context.Context) error {
	for id, svc := range w.ids {
		if _, done := w.exits[svc]; done {
			continue
		}
		ctr, err := w.e.client.LoadContainer(ctx, id)
		if errdefs.IsNotFound(err) {
			continue // not created (yet): nothing to report
		}
		if err != nil {
			return err
		}
		task, err := ctr.Task(ctx, nil)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		st, err := task.Status(ctx)
		if err != nil {
			return err
		}
		if st.Status == client.Stopped {
			w.exits[svc] = st.ExitStatus
		}
	}
	return nil
}

// publish derives the pod state and sends it when it changed.
func (w *podWatch) publish(ctx context.Context) {
	st := w.derive()
	if w.last != nil && w.last.Phase == st.Phase && maps.Equal(w.last.Exits, st.Exits) {
		return
	}
	w.last = &st
	select {
	case w.out <- st:
	case <-ctx.Done():
	}
}

// derive is the single place where service exits become pod state
// (docs/lifecycle.md): the first service, in plan order, that exited
// non-zero fails the pod; a pod whose services all exited 0 is finished.
func (w *podWatch) derive() PodState {
	st := PodState{Pod: w.rec.Plan.Name, Phase: PhaseRunning, Exits: maps.Clone(w.exits), Time: time.Now()}
	for _, s := range w.rec.Plan.Services {
		code, ok := w.exits[s.Name]
		if !ok || code == 0 {
			continue
		}
		st.Phase, st.Service, st.ExitCode = PhaseFailed, s.Name, code
		if w.oom[s.Name] {
			st.Reason = ReasonOOM
			st.Message = fmt.Sprintf("service %q was killed for exceeding its memory limit (exit code %d)", s.Name, code)
		} else {
			st.Reason = ReasonServiceExit
			st.Message = fmt.Sprintf("service %q exited with code %d", s.Name, code)
		}
		return st
	}
	if len(w.exits) == len(w.rec.Plan.Services) && len(w.exits) > 0 {
		st.Phase = PhaseFinished
		names := make([]string, 0, len(w.exits))
		for _, s := range w.rec.Plan.Services {
			names = append(names, s.Name)
		}
		st.Message = "every service exited 0: " + strings.Join(names, ", ")
	}
	return st
}
