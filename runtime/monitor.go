package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"

	"github.com/compod/compod/translate"
)

// Reconnect backoff for the event subscription: containerd restarting is
// normal (tasks live on in their shims), so compod keeps trying.
const (
	resubscribeMin = 100 * time.Millisecond
	resubscribeMax = 5 * time.Second
	// oomGrace is how long an exit by SIGKILL waits for the OOM event that
	// may explain it: containerd's shim reports the two independently.
	oomGrace = 250 * time.Millisecond
	// Restart backoff, doubled per restart of a service (docker's numbers).
	restartBackoffMin = 100 * time.Millisecond
	restartBackoffMax = 10 * time.Second
)

// Unhealthy policies (dce-go's cleanpod.unhealthy).
const (
	UnhealthyKill   = "kill"   // an unhealthy service fails the pod
	UnhealthyReport = "report" // unhealthy is only reported
)

// supervisor is the single place that turns a pod's runtime events (task
// exits and OOM kills from containerd's event stream, health probe results)
// into pod state, and that applies restart policies. There is at most one
// per pod per compod process; it lives from Up (or the first Watch) until
// Stop, Down or Close.
type supervisor struct {
	e      *Engine
	rec    *PodRecord
	ids    map[string]string // container id → service
	cancel context.CancelFunc
	doneC  <-chan struct{} // closed when the supervisor stops

	mu         sync.Mutex
	exits      map[string]uint32
	oom        map[string]bool
	health     map[string]ServiceHealth
	restarts   map[string]int
	restarting map[string]bool
	probes     map[string]context.CancelFunc
	noHealth   map[string]bool // services started without a healthcheck
	lost       map[string]bool // services whose task vanished without an exit
	// launched says which services should have a task: those this process
	// started, or all of them when the supervisor came from Watch on a pod
	// another process launched.
	launched    map[string]bool
	launchedAll bool
	stopping    bool
	dropped     bool // no longer the pod's supervisor: publishes nothing
	// probing counts the running health probers, so that stopping the
	// pod or the supervisor waits for a probe's exec to be gone before
	// the service is killed and deleted.
	probing sync.WaitGroup
	// bg counts the supervisor's other goroutines (its event loop and
	// restarts), so that dropping it waits until nothing of it writes to
	// the pod's directory any more.
	bg       sync.WaitGroup
	watchers map[chan PodState]struct{}
	changed  chan struct{} // closed and replaced on every change
	last     *PodState
}

// supervise returns the pod's supervisor, starting it if needed.
func (e *Engine) supervise(rec *PodRecord, launchedElsewhere bool) *supervisor {
	e.supMu.Lock()
	defer e.supMu.Unlock()
	if s, ok := e.sups[rec.Plan.Name]; ok {
		return s
	}
	ctx, cancel := context.WithCancel(e.withNS(context.Background()))
	s := &supervisor{
		e: e, rec: rec, cancel: cancel, ids: map[string]string{},
		exits: map[string]uint32{}, oom: map[string]bool{}, health: map[string]ServiceHealth{},
		restarts: map[string]int{}, restarting: map[string]bool{}, probes: map[string]context.CancelFunc{}, noHealth: map[string]bool{},
		lost: map[string]bool{}, launched: map[string]bool{},
		watchers: map[chan PodState]struct{}{}, changed: make(chan struct{}),
		launchedAll: launchedElsewhere,
	}
	s.doneC = ctx.Done()
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
		s.run(ctx, ready)
	}()
	<-ready
	return s
}

// unsupervise stops the pod's supervisor (probes, restarts, watchers).
func (e *Engine) unsupervise(pod string) {
	if s := e.dropSupervisor(pod); s != nil {
		// Nobody probes the pod any more: drop its health rather than
		// let `ps` show a stale one. Restart counts stay true.
		s.mu.Lock()
		e.writeMonitorFile(pod, nil, s.restarts)
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
		s.stopProbes()
		s.bg.Wait()
		// A publish timer may still be due (oomGrace).
		s.mu.Lock()
		s.dropped = true
		s.mu.Unlock()
	}
	return s
}

// setStopping turns off restarts and probes before compod stops the pod
// on purpose, so the exits it causes are not treated as failures to heal.
func (e *Engine) setStopping(pod string) {
	e.supMu.Lock()
	s := e.sups[pod]
	e.supMu.Unlock()
	if s == nil {
		return
	}
	s.stopProbes()
}

// stopProbes ends health probing for good and waits until the probes'
// execs are gone.
func (s *supervisor) stopProbes() {
	s.mu.Lock()
	s.stopping = true
	for _, cancel := range s.probes {
		cancel()
	}
	s.mu.Unlock()
	s.probing.Wait()
}

// Watch reports a pod's state changes, learned from containerd's event
// stream (/tasks/exit, /tasks/oom) and the health probes, never by polling
// containerd. It first sends the current state. If containerd restarts, the
// supervisor resubscribes with backoff and reconciles by asking each task
// for its status, so an exit missed during the outage is still reported,
// once. The channel closes when ctx ends or the pod is removed.
func (e *Engine) Watch(ctx context.Context, pod string) (<-chan PodState, error) {
	rec, err := e.readRecord(pod)
	if err != nil {
		return nil, err
	}
	s := e.supervise(rec, true)
	ch := make(chan PodState, 64)
	s.mu.Lock()
	s.watchers[ch] = struct{}{}
	cur := s.deriveLocked()
	s.mu.Unlock()
	ch <- cur
	go func() {
		select {
		case <-ctx.Done():
		case <-s.doneC:
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

func (s *supervisor) run(ctx context.Context, ready chan struct{}) {
	log := s.e.log.With("pod", s.rec.Plan.Name)
	backoff := resubscribeMin
	first := true
	adopted := false
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
		if s.launchedAll && !adopted {
			s.adopt(ctx)
			adopted = true
		}
		err := s.consume(ctx, evC, errs)
		cancel()
		if ctx.Err() != nil {
			break
		}
		log.Warn("pod monitor: event stream lost, resubscribing", "err", err)
	}
	s.mu.Lock()
	for ch := range s.watchers {
		delete(s.watchers, ch)
		close(ch)
	}
	for _, c := range s.probes {
		c()
	}
	s.mu.Unlock()
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
				s.exited(ctx, svc, ev.ExitStatus)
			case *apievents.TaskDelete:
				if svc, ok := s.ids[ev.ContainerID]; ok && ev.ID == ev.ContainerID {
					s.vanished(svc)
				}
			case *apievents.TaskOOM:
				if svc, ok := s.ids[ev.ContainerID]; ok {
					s.mu.Lock()
					s.oom[svc] = true
					s.mu.Unlock()
					s.publish()
				}
			}
		}
	}
}

// exited records a service exit, or restarts the service when its restart
// policy says so.
func (s *supervisor) exited(ctx context.Context, svc string, code uint32) {
	spec, _ := s.rec.Plan.Service(svc)
	s.mu.Lock()
	if s.restarting[svc] {
		s.mu.Unlock()
		return
	}
	if p, ok := s.probes[svc]; ok {
		p()
		delete(s.probes, svc)
	}
	if !s.stopping && shouldRestart(spec.Restart, code, s.restarts[svc]) {
		s.restarting[svc] = true
		n := s.restarts[svc]
		s.mu.Unlock()
		s.bg.Add(1) // from the event loop, which bg counts: never after Wait began
		go func() {
			defer s.bg.Done()
			s.restart(ctx, spec, n, code)
		}()
		return
	}
	s.exits[svc] = code
	s.mu.Unlock()
	if code == 137 {
		// Give the OOM event a moment to arrive and name the cause.
		time.AfterFunc(oomGrace, s.publish)
		return
	}
	s.publish()
}

// adopt takes over a pod another process launched: the restart counts it
// recorded carry on, and the running services get their health probes.
func (s *supervisor) adopt(ctx context.Context) {
	prev := s.e.readMonitorFile(s.rec.Plan.Name)
	s.mu.Lock()
	for svc, n := range prev.Restarts {
		s.restarts[svc] = n
	}
	s.mu.Unlock()
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
		s.started(svc, task, hc)
	}
	s.publish()
}

// vanished records a service whose task is gone without compod having seen
// it exit and without compod removing it (deleted behind its back, or exit
// and removal both happened while no compod watched): the pod cannot know
// how it ended, so it fails as lost.
func (s *supervisor) vanished(svc string) {
	s.mu.Lock()
	_, exited := s.exits[svc]
	if exited || s.stopping || s.restarting[svc] || !(s.launchedAll || s.launched[svc]) {
		s.mu.Unlock()
		return
	}
	s.lost[svc] = true
	s.mu.Unlock()
	s.e.log.Warn("service task vanished", "pod", s.rec.Plan.Name, "service", svc)
	s.publish()
}

// shouldRestart applies a compose restart policy to an exit.
func shouldRestart(policy string, code uint32, restarts int) bool {
	name, maxStr, _ := strings.Cut(policy, ":")
	switch name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		if code == 0 {
			return false
		}
		if maxStr == "" {
			return true
		}
		n, err := strconv.Atoi(maxStr)
		return err == nil && restarts < n
	}
	return false
}

// restart starts a new task in the same container: same sandbox, same IP,
// same log files.
func (s *supervisor) restart(ctx context.Context, spec *translate.ServiceSpec, n int, code uint32) {
	delay := min(restartBackoffMin<<n, restartBackoffMax)
	log := s.e.log.With("pod", s.rec.Plan.Name, "service", spec.Name)
	log.Info("restarting service", "exit_code", code, "restart", n+1, "backoff", delay)
	fail := func(err error) {
		log.Error("restarting service failed", "err", err)
		s.mu.Lock()
		s.restarting[spec.Name] = false
		s.exits[spec.Name] = code
		s.mu.Unlock()
		s.publish()
	}
	if !sleepCtx(ctx, delay) {
		return
	}
	ctr, err := s.e.client.LoadContainer(ctx, serviceID(s.rec.Plan.Name, spec.Name))
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
	stopping := s.stopping
	s.mu.Unlock()
	if stopping {
		fail(fmt.Errorf("pod is stopping"))
		return
	}
	task, err := ctr.NewTask(ctx, s.e.taskIO(s.rec, spec))
	if err == nil {
		err = task.Start(ctx)
	}
	if err != nil {
		fail(err)
		return
	}
	s.mu.Lock()
	s.restarts[spec.Name] = n + 1
	s.restarting[spec.Name] = false
	s.mu.Unlock()
	s.started(spec.Name, task, nil)
	s.publish()
}

// started registers a service's (new) task and starts its health probe.
// hc is the healthcheck to run (nil: the plan's, or none).
func (s *supervisor) started(svc string, task client.Task, hc *translate.Healthcheck) {
	if hc == nil {
		if spec, ok := s.rec.Plan.Service(svc); ok {
			hc = spec.Healthcheck
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.launched[svc] = true
	delete(s.lost, svc)
	if hc == nil || len(hc.Test) == 0 {
		s.noHealth[svc] = true
		return
	}
	if s.stopping {
		return
	}
	if old, ok := s.probes[svc]; ok {
		old()
	}
	ctx, cancel := context.WithCancel(s.e.withNS(context.Background()))
	s.probes[svc] = cancel
	p := &healthProber{e: s.e, pod: s.rec.Plan.Name, service: svc, hc: *hc, task: task, report: s.setHealth}
	s.probing.Add(1) // under s.mu, with stopping false: stopProbes has not begun waiting
	go func() {
		defer s.probing.Done()
		p.run(ctx)
	}()
}

func (s *supervisor) setHealth(svc string, h ServiceHealth) {
	s.mu.Lock()
	s.health[svc] = h
	s.mu.Unlock()
	s.publish()
}

// waitHealthy blocks until svc is healthy; it fails when svc exits or turns
// unhealthy, since service_healthy can then never be met.
func (s *supervisor) waitHealthy(ctx context.Context, svc string) error {
	for {
		s.mu.Lock()
		h, changed := s.health[svc], s.changed
		code, exited := s.exits[svc]
		noHealth := s.noHealth[svc]
		s.mu.Unlock()
		switch {
		case noHealth:
			return fmt.Errorf("dependency %q has no healthcheck (neither in compose nor in its image)", svc)
		case h.Status == HealthHealthy:
			return nil
		case h.Status == HealthUnhealthy:
			return fmt.Errorf("dependency %q is unhealthy: %s", svc, lastOutput(h))
		case exited:
			return fmt.Errorf("dependency %q exited with code %d before it was healthy", svc, code)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

func lastOutput(h ServiceHealth) string {
	if len(h.Log) == 0 {
		return "no probe output"
	}
	last := h.Log[len(h.Log)-1]
	return fmt.Sprintf("last probe exited %d: %s", last.ExitCode, strings.TrimSpace(last.Output))
}

// reconcile reads every service's task status, for exits missed while the
// event stream was down.
func (s *supervisor) reconcile(ctx context.Context) error {
	for id, svc := range s.ids {
		s.mu.Lock()
		_, done := s.exits[svc]
		skip := done || s.restarting[svc]
		s.mu.Unlock()
		if skip {
			continue
		}
		ctr, err := s.e.client.LoadContainer(ctx, id)
		if errdefs.IsNotFound(err) {
			s.vanished(svc) // unless not created yet
			continue
		}
		if err != nil {
			return err
		}
		task, err := ctr.Task(ctx, nil)
		if errdefs.IsNotFound(err) {
			s.vanished(svc)
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
			s.exited(ctx, svc, st.ExitStatus)
		}
	}
	s.publish()
	return nil
}

// publish derives the pod state and sends it to every watcher when it
// changed; it also records health and restarts for `compod ps`.
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
	s.e.writeMonitorFile(s.rec.Plan.Name, s.health, s.restarts)
	for ch := range s.watchers {
		select {
		case ch <- st:
		default:
			s.e.log.Warn("pod state watcher is not keeping up; dropping a state", "pod", s.rec.Plan.Name)
		}
	}
}

// deriveLocked computes the pod state (docs/lifecycle.md): the first
// service, in plan order, that exited non-zero (or, with the kill policy,
// turned unhealthy) fails the pod; a pod whose services all exited 0 is
// finished.
func (s *supervisor) deriveLocked() PodState {
	st := PodState{Pod: s.rec.Plan.Name, Phase: PhaseRunning, Exits: maps.Clone(s.exits),
		Health: map[string]string{}, Restarts: maps.Clone(s.restarts), Time: time.Now()}
	for svc, h := range s.health {
		st.Health[svc] = h.Status
	}
	for _, svc := range s.rec.Plan.Services {
		code, ok := s.exits[svc.Name]
		if ok && code != 0 {
			st.Phase, st.Service, st.ExitCode = PhaseFailed, svc.Name, code
			switch {
			case s.oom[svc.Name]:
				st.Reason = ReasonOOM
				st.Message = fmt.Sprintf("service %q was killed for exceeding its memory limit (exit code %d)", svc.Name, code)
			default:
				st.Reason = ReasonServiceExit
				st.Message = fmt.Sprintf("service %q exited with code %d", svc.Name, code)
			}
			if n := s.restarts[svc.Name]; n > 0 {
				st.Message += fmt.Sprintf(" after %d restarts", n)
			}
			return st
		}
		if s.lost[svc.Name] {
			st.Phase, st.Service, st.Reason = PhaseFailed, svc.Name, ReasonLost
			st.Message = fmt.Sprintf("service %q is gone: its task was removed without compod seeing it exit", svc.Name)
			return st
		}
		if h := s.health[svc.Name]; h.Status == HealthUnhealthy && s.e.unhealthyPolicy == UnhealthyKill && !ok {
			st.Phase, st.Service, st.Reason = PhaseFailed, svc.Name, ReasonUnhealthy
			st.Message = fmt.Sprintf("service %q is unhealthy: %s", svc.Name, lastOutput(h))
			return st
		}
	}
	if len(s.exits) == len(s.rec.Plan.Services) && len(s.exits) > 0 {
		st.Phase = PhaseFinished
		st.Message = "every service exited 0"
	}
	return st
}

// monitorFile keeps health and restart counts for `compod ps` run from
// another process.
type monitorFile struct {
	Health   map[string]ServiceHealth `json:"health,omitempty"`
	Restarts map[string]int           `json:"restarts,omitempty"`
}

func (e *Engine) writeMonitorFile(pod string, health map[string]ServiceHealth, restarts map[string]int) {
	data, err := json.Marshal(monitorFile{Health: health, Restarts: restarts})
	if err != nil {
		return
	}
	p := filepath.Join(e.podDir(pod), "monitor.json")
	if err := os.WriteFile(p+".tmp", data, modePrivateFile); err == nil {
		os.Rename(p+".tmp", p)
	}
}

func (e *Engine) readMonitorFile(pod string) monitorFile {
	var m monitorFile
	if data, err := os.ReadFile(filepath.Join(e.podDir(pod), "monitor.json")); err == nil {
		json.Unmarshal(data, &m)
	}
	return m
}
