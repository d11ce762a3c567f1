package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/continuity"
	"github.com/containerd/errdefs"

	"github.com/compod/compod/runtime/podstate"
	"github.com/compod/compod/translate"
)

// Unhealthy policies (dce-go's cleanpod.unhealthy).
const (
	UnhealthyKill   = "kill"   // an unhealthy service fails the pod
	UnhealthyReport = "report" // unhealthy is only reported
)

// supervisor runs one pod's state machine (runtime/podstate): it feeds it
// the events it learns from containerd (events.go) and from the health
// probes, and carries out the actions it returns: restarts by the restart
// policy, the failure policy (a failed pod is stopped, whoever supervises
// it: foreground `up`, `compod supervise`, the executor), publishing to
// watchers and to monitor.json for `compod ps`. There is at most one per
// pod per compod process; it lives from Up (or the first Watch) until
// Stop, Down or Close. Every goroutine it starts is joined when it is
// dropped.
type supervisor struct {
	e      *Engine
	rec    *PodRecord
	ids    map[string]string // container id → service
	ctx    context.Context   // cancelled when the supervisor is dropped
	cancel context.CancelFunc

	mu     sync.Mutex
	state  podstate.Pod
	probes map[string]context.CancelFunc
	// probesOff: no probe starts any more (the pod is stopping, or the
	// supervisor is being dropped).
	probesOff bool
	// closing: the supervisor is being dropped; it starts no goroutine.
	closing bool
	dropped bool // no longer the pod's supervisor: publishes nothing
	// probing counts the running health probers, so that stopping the
	// pod or the supervisor waits for a probe's exec to be gone before
	// the service is killed and deleted.
	probing sync.WaitGroup
	// bg counts the supervisor's other goroutines (its event loop,
	// restarts, delayed publishes, the failure policy's stop), so that
	// dropping it waits until nothing of it writes to the pod's directory
	// any more.
	bg       sync.WaitGroup
	watchers map[chan PodState]struct{}
	changed  chan struct{} // closed and replaced on every change
	last     *PodState
}

// supervise returns the pod's supervisor, starting it if needed.
// launchedElsewhere: another process launched the pod (every service
// should have a task; the restart counts and failure it recorded carry
// on).
func (e *Engine) supervise(rec *PodRecord, launchedElsewhere bool) *supervisor {
	e.supMu.Lock()
	defer e.supMu.Unlock()
	if s, ok := e.sups[rec.Plan.Name]; ok {
		return s
	}
	ctx, cancel := context.WithCancel(e.withNS(context.Background()))
	s := &supervisor{
		e: e, rec: rec, ctx: ctx, cancel: cancel, ids: map[string]string{},
		probes:   map[string]context.CancelFunc{},
		watchers: map[chan PodState]struct{}{}, changed: make(chan struct{}),
		state: e.newPodState(rec, launchedElsewhere),
	}
	if launchedElsewhere {
		s.state = restoreState(s.state, e.readMonitorFile(rec.Plan.Name), false)
	}
	for _, svc := range rec.Plan.Services {
		s.ids[serviceID(rec.Plan.Name, svc.Name)] = svc.Name
	}
	if e.sups == nil {
		e.sups = map[string]*supervisor{}
	}
	e.sups[rec.Plan.Name] = s
	ready := make(chan struct{})
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.run(ctx, ready, launchedElsewhere)
	}()
	<-ready
	return s
}

// newPodState is the state machine of a pod whose services have not been
// seen yet.
func (e *Engine) newPodState(rec *PodRecord, expected bool) podstate.Pod {
	specs := make([]podstate.ServiceSpec, 0, len(rec.Plan.Services))
	for _, s := range rec.Plan.Services {
		specs = append(specs, podstate.ServiceSpec{Name: s.Name, Restart: s.Restart})
	}
	return podstate.New(rec.Plan.Name, specs, e.unhealthyPolicy == UnhealthyKill, expected)
}

// restoreState carries on what a supervisor persisted (monitor.json):
// restart counts, the pod's failure, a stop request, and (for `ps`) the
// last health.
func restoreState(p podstate.Pod, m monitorFile, withHealth bool) podstate.Pod {
	for i := range p.Services {
		s := &p.Services[i]
		s.Restarts = m.Restarts[s.Name]
		if withHealth {
			s.Health = m.Health[s.Name]
		}
	}
	if m.Failure != nil {
		f := *m.Failure
		p.Failure = &f
	}
	p.Stopping = m.Stopped
	return p
}

// unsupervise stops the pod's supervisor (probes, restarts, watchers).
func (e *Engine) unsupervise(pod string) {
	if s := e.dropSupervisor(pod); s != nil {
		// Nobody probes the pod any more: drop its health rather than
		// let `ps` show a stale one. Restart counts and a failure stay
		// true.
		s.mu.Lock()
		e.writeMonitorFile(pod, monitorOf(s.state, false))
		s.mu.Unlock()
	}
}

// dropSupervisor stops the pod's supervisor, waits until all of its
// goroutines have ended, and returns it (nil if none).
func (e *Engine) dropSupervisor(pod string) *supervisor {
	e.supMu.Lock()
	s := e.sups[pod]
	delete(e.sups, pod)
	e.supMu.Unlock()
	if s != nil {
		s.cancel()
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.stopProbes()
		s.bg.Wait()
		s.mu.Lock()
		s.dropped = true
		s.mu.Unlock()
	}
	return s
}

// setStopping tells the pod's supervisor that compod stops the pod on
// purpose, so the exits it causes are neither restarted nor failures, and
// ends health probing. It reports whether this process supervises the
// pod.
func (e *Engine) setStopping(pod string) bool {
	e.supMu.Lock()
	s := e.sups[pod]
	e.supMu.Unlock()
	if s == nil {
		return false
	}
	s.setStopping()
	return true
}

func (s *supervisor) setStopping() {
	s.apply(podstate.StopRequested{})
	s.stopProbes()
}

// stopProbes ends health probing for good and waits until the probes'
// execs are gone.
func (s *supervisor) stopProbes() {
	s.mu.Lock()
	s.probesOff = true
	for _, cancel := range s.probes {
		cancel()
	}
	s.mu.Unlock()
	s.probing.Wait()
}

// spawn runs fn in a goroutine of the supervisor's, unless it is being
// dropped.
func (s *supervisor) spawn(fn func(ctx context.Context)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.bg.Add(1) // under mu with closing false: dropSupervisor has not begun waiting
	go func() {
		defer s.bg.Done()
		fn(s.ctx)
	}()
}

// apply feeds an event to the state machine and carries out its actions.
func (s *supervisor) apply(ev podstate.Event) {
	s.mu.Lock()
	var acts []podstate.Action
	s.state, acts = podstate.Apply(s.state, ev)
	var later []podstate.Action
	for _, a := range acts {
		if a, ok := a.(podstate.StopProbe); ok {
			if cancel, ok := s.probes[a.Service]; ok {
				cancel()
				delete(s.probes, a.Service)
			}
			continue
		}
		later = append(later, a)
	}
	s.mu.Unlock()
	for _, a := range later {
		switch a := a.(type) {
		case podstate.Publish:
			if a.Delay == 0 {
				s.publish()
				continue
			}
			s.spawn(func(ctx context.Context) {
				if sleepCtx(ctx, a.Delay) {
					s.publish()
				}
			})
		case podstate.RestartService:
			s.spawn(func(ctx context.Context) { s.restart(ctx, a) })
		case podstate.StopPod:
			s.spawn(func(ctx context.Context) {
				if sleepCtx(ctx, a.Delay) {
					s.stopFailed(ctx, a.Failure)
				}
			})
		}
	}
}

// stopFailed is the failure policy: a failed pod is stopped (dependents
// first, each service with its stop signal and grace period) by whoever
// supervises it, and kept with its exit codes and logs for `ps` and
// `logs`.
func (s *supervisor) stopFailed(ctx context.Context, f podstate.Failure) {
	pod := s.rec.Plan.Name
	log := s.e.log.With("pod", pod)
	log.Warn("pod failed: stopping it", "service", f.Service, "reason", f.Reason, "message", f.Message)
	// Waiting for the mutation lock ends when the supervisor is dropped
	// (down takes the lock, then drops the supervisor).
	lock, err := s.e.lockPod(ctx, pod)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("stopping the failed pod", "err", err)
		}
		return
	}
	defer lock.unlock()
	rec, err := s.e.readRecord(pod)
	if err != nil || !rec.Created.Equal(s.rec.Created) {
		return // removed meanwhile (or another pod of the name)
	}
	s.setStopping()
	if err := s.e.stopServices(ctx, rec, DownOptions{}); err != nil && ctx.Err() == nil {
		log.Error("stopping the failed pod", "err", err)
	}
}

// Watch reports a pod's state changes, learned from containerd's event
// stream (/tasks/exit, /tasks/oom, /tasks/delete) and the health probes,
// never by polling containerd. It first sends the current state. A watcher
// always gets the latest state: states it has not read yet are replaced by
// newer ones (a pod's failure is kept once it happened, so a terminal
// state is never replaced by a non-terminal one). If containerd restarts,
// the supervisor resubscribes with backoff and reconciles by asking each
// task for its status, so an exit missed during the outage is still
// reported, once. The channel closes when ctx ends or the pod is removed.
func (e *Engine) Watch(ctx context.Context, pod string) (<-chan PodState, error) {
	rec, err := e.readRecord(pod)
	if err != nil {
		return nil, err
	}
	s := e.supervise(rec, true)
	ch := make(chan PodState, 1)
	s.mu.Lock()
	s.watchers[ch] = struct{}{}
	ch <- s.deriveLocked()
	s.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-s.ctx.Done():
		}
		s.mu.Lock()
		if _, ok := s.watchers[ch]; ok {
			delete(s.watchers, ch)
			close(ch)
		}
		s.mu.Unlock()
	}()
	return ch, nil
}

// closeWatchers ends every watch (the supervisor stops).
func (s *supervisor) closeWatchers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.watchers {
		delete(s.watchers, ch)
		close(ch)
	}
	for _, c := range s.probes {
		c()
	}
}

// adopt takes over a pod another process launched: its running services
// get their health probes.
func (s *supervisor) adopt(ctx context.Context) {
	for id, svc := range s.ids {
		ctr, err := s.e.client.LoadContainer(ctx, id)
		if err != nil {
			continue
		}
		task, err := ctr.Task(ctx, nil)
		if err != nil {
			continue
		}
		if st, err := task.Status(ctx); err != nil || st.Status != client.Running {
			continue
		}
		spec, _ := s.rec.Plan.Service(svc)
		hc := spec.Healthcheck
		if hc == nil {
			if img, err := ctr.Image(ctx); err == nil {
				hc, _ = imageHealthcheck(ctx, img)
			}
		}
		s.started(svc, task, hc, false)
	}
}

// restart starts a new task in the same container: same sandbox, same IP,
// same log files.
func (s *supervisor) restart(ctx context.Context, a podstate.RestartService) {
	spec, _ := s.rec.Plan.Service(a.Service)
	log := s.e.log.With("pod", s.rec.Plan.Name, "service", a.Service)
	log.Info("restarting service", "exit_code", a.ExitCode, "restart", a.Attempt, "backoff", a.Delay)
	fail := func(err error) {
		log.Error("restarting service failed", "err", err)
		s.apply(podstate.RestartFailed{Service: a.Service, ExitCode: a.ExitCode})
	}
	if !sleepCtx(ctx, a.Delay) {
		return
	}
	ctr, err := s.e.client.LoadContainer(ctx, serviceID(s.rec.Plan.Name, a.Service))
	if err != nil {
		fail(err)
		return
	}
	if t, err := ctr.Task(ctx, nil); err == nil {
		if _, err := t.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			fail(err)
			return
		}
	}
	s.mu.Lock()
	stopping := s.state.Stopping
	s.mu.Unlock()
	if stopping {
		fail(fmt.Errorf("pod is stopping"))
		return
	}
	if err := s.rejoinPIDNamespace(ctx, spec, ctr); err != nil {
		fail(err)
		return
	}
	task, err := s.e.newTask(ctx, ctr, s.e.taskIO(s.rec, spec))
	if err == nil {
		err = task.Start(ctx)
	}
	if err != nil {
		fail(err)
		return
	}
	s.started(a.Service, task, nil, true)
}

// started registers a service's (new) task and starts its health probe.
// hc is the healthcheck to run (nil: the plan's, or none).
func (s *supervisor) started(svc string, task client.Task, hc *translate.Healthcheck, restarted bool) {
	if hc == nil {
		if spec, ok := s.rec.Plan.Service(svc); ok {
			hc = spec.Healthcheck
		}
	}
	noHealth := hc == nil || len(hc.Test) == 0
	s.apply(podstate.TaskStarted{Service: svc, Restarted: restarted, NoHealthcheck: noHealth})
	s.mu.Lock()
	defer s.mu.Unlock()
	if noHealth || s.probesOff {
		return
	}
	if old, ok := s.probes[svc]; ok {
		old()
	}
	ctx, cancel := context.WithCancel(s.e.withNS(context.Background()))
	s.probes[svc] = cancel
	p := &healthProber{e: s.e, pod: s.rec.Plan.Name, service: svc, hc: *hc, task: task, report: s.setHealth}
	s.probing.Add(1) // under s.mu, with probesOff false: stopProbes has not begun waiting
	go func() {
		defer s.probing.Done()
		p.run(ctx)
	}()
}

func (s *supervisor) setHealth(svc string, h ServiceHealth) {
	s.apply(podstate.HealthReported{Service: svc, Health: h})
}

// waitHealthy blocks until svc is healthy; it fails when svc exits or turns
// unhealthy, since service_healthy can then never be met.
func (s *supervisor) waitHealthy(ctx context.Context, svc string) error {
	return s.waitService(ctx, svc, func(st podstate.Service) (bool, error) {
		switch {
		case st.NoHealthcheck:
			return true, fmt.Errorf("dependency %q has no healthcheck (neither in compose nor in its image)", svc)
		case st.Health.Status == HealthHealthy:
			return true, nil
		case st.Health.Status == HealthUnhealthy:
			return true, fmt.Errorf("dependency %q is unhealthy: %s", svc, st.Health.LastOutput())
		case st.Task == podstate.StatusExited && !st.Restarting:
			return true, fmt.Errorf("dependency %q exited with code %d before it was healthy", svc, st.ExitCode)
		}
		return false, nil
	})
}

// waitService blocks until done says so for svc's state, looking again
// at every change of the pod's state.
func (s *supervisor) waitService(ctx context.Context, svc string, done func(podstate.Service) (bool, error)) error {
	for {
		s.mu.Lock()
		var st podstate.Service
		if p := s.state.Service(svc); p != nil {
			st = *p
		}
		changed := s.changed
		s.mu.Unlock()
		if ok, err := done(st); ok {
			return err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// publish derives the pod state and sends it to every watcher when it
// changed; it also persists it for `compod ps`.
func (s *supervisor) publish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropped {
		return
	}
	st := s.deriveLocked()
	close(s.changed)
	s.changed = make(chan struct{})
	if l := s.last; l != nil && l.Phase == st.Phase && maps.Equal(l.Exits, st.Exits) &&
		maps.Equal(l.Health, st.Health) && maps.Equal(l.Restarts, st.Restarts) && l.Reason == st.Reason {
		return
	}
	s.last = &st
	s.e.writeMonitorFile(s.rec.Plan.Name, monitorOf(s.state, true))
	for ch := range s.watchers {
		// Coalesce: a state the watcher has not read yet is replaced by
		// this newer one. Only publish sends, under s.mu, so after the
		// drain there is room.
		select {
		case ch <- st:
		default:
			select {
			case <-ch:
			default:
			}
			ch <- st
		}
	}
}

// deriveLocked is the pod's state as this supervisor sees it: the one
// derivation, podstate.Derive (this process supervises the pod, so no
// facts about other processes apply).
func (s *supervisor) deriveLocked() PodState {
	st := podstate.Derive(s.state, podstate.Facts{})
	st.Time = time.Now()
	return st
}

// monitorFile is what a supervisor persists for `compod ps` run from
// another process, and for a supervisor that takes the pod over.
type monitorFile struct {
	Health   map[string]ServiceHealth `json:"health,omitempty"`
	Restarts map[string]int           `json:"restarts,omitempty"`
	// Failure is what failed the pod (kept once it happened).
	Failure *podstate.Failure `json:"failure,omitempty"`
	// Stopped: the pod was stopped on purpose.
	Stopped bool `json:"stopped,omitempty"`
}

func monitorOf(p podstate.Pod, withHealth bool) monitorFile {
	m := monitorFile{Restarts: map[string]int{}, Failure: p.Failure, Stopped: p.Stopping}
	if withHealth {
		m.Health = map[string]ServiceHealth{}
	}
	for _, s := range p.Services {
		if s.Restarts > 0 {
			m.Restarts[s.Name] = s.Restarts
		}
		if withHealth && s.Health.Status != HealthNone {
			m.Health[s.Name] = s.Health
		}
	}
	return m
}

func (e *Engine) writeMonitorFile(pod string, m monitorFile) {
	data, err := json.Marshal(m)
	if err != nil {
		return
	}
	p := filepath.Join(e.podDir(pod), "monitor.json")
	if err := continuity.AtomicWriteFile(p, data, modePrivateFile); err != nil {
		e.log.Warn("recording health and restarts", "pod", pod, "err", err)
	}
}

func (e *Engine) readMonitorFile(pod string) monitorFile {
	var m monitorFile
	if data, err := os.ReadFile(filepath.Join(e.podDir(pod), "monitor.json")); err == nil {
		json.Unmarshal(data, &m)
	}
	return m
}

// markStopped records that the pod was stopped on purpose when no
// supervisor of this process does (its exits are then not failures).
func (e *Engine) markStopped(pod string) {
	m := e.readMonitorFile(pod)
	m.Stopped = true
	e.writeMonitorFile(pod, m)
}
