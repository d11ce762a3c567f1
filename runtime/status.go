package runtime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/compod/compod/runtime/podstate"
	"github.com/compod/compod/translate"
)

// Service states as `compod ps` shows them.
const (
	StateCreated = "created"
	StateRunning = "running"
	StateExited  = "exited"
	StateMissing = "missing" // in the plan, but no container (not started, or removed)
)

// PodStatus is a pod as `compod ps` shows it.
type PodStatus struct {
	Name string `json:"name"`
	// State is the pod's phase: the same derivation Watch and the
	// executor act on (podstate.Derive), plus what the pod's locks say
	// about the processes working on it (starting, stopping,
	// unsupervised).
	State PodPhase `json:"state"`
	// Reason and Message say why a pod failed (or, for unsupervised,
	// what to do).
	Reason  FailureReason `json:"reason,omitempty"`
	Message string        `json:"message,omitempty"`
	IP      string        `json:"ip,omitempty"`
	// Networks are the pod's networks with its addresses on each.
	Networks []NetworkStatus         `json:"networks,omitempty"`
	Ports    []translate.PortMapping `json:"ports,omitempty"`
	Created  time.Time               `json:"created"`
	// NetNS and Cgroup are the pod's netns pin and cgroup: host-wide
	// names that carry the compod instance (see names.go).
	NetNS    string          `json:"netns,omitempty"`
	Cgroup   string          `json:"cgroup,omitempty"`
	Services []ServiceStatus `json:"services"`
}

// recordPart is what a pod's status takes from its record alone.
func recordPart(rec *PodRecord) *PodStatus {
	return &PodStatus{Name: rec.Plan.Name, IP: rec.IP, Networks: networkStatuses(rec), Ports: rec.Ports, Created: rec.Created,
		NetNS: rec.NetNSPath, Cgroup: rec.Cgroup}
}

// ServiceStatus is one service's container and task.
type ServiceStatus struct {
	Name     string    `json:"name"`
	Image    string    `json:"image"`
	State    string    `json:"state"`
	PID      uint32    `json:"pid,omitempty"`
	ExitCode *uint32   `json:"exitCode,omitempty"`
	ExitedAt time.Time `json:"exitedAt,omitzero"`
	// Health is the healthcheck status ("" when the service has none or
	// no compod process has probed it).
	Health   string `json:"health,omitempty"`
	Restarts int    `json:"restarts,omitempty"`
}

// Status reads a pod's record and asks containerd about each service.
func (e *Engine) Status(ctx context.Context, pod string) (*PodStatus, error) {
	ctx = e.withNS(ctx)
	rec, err := e.readRecord(pod)
	if err != nil {
		return nil, err
	}
	return e.status(ctx, rec)
}

// List returns the status of every pod, by name.
func (e *Engine) List(ctx context.Context) ([]PodStatus, error) {
	ctx = e.withNS(ctx)
	recs, err := e.records()
	if err != nil {
		return nil, err
	}
	out := make([]PodStatus, 0, len(recs))
	for _, rec := range recs {
		st, err := e.status(ctx, rec)
		if err != nil {
			return nil, err
		}
		out = append(out, *st)
	}
	return out, nil
}

func (e *Engine) status(ctx context.Context, rec *PodRecord) (*PodStatus, error) {
	return e.statusWith(ctx, rec, true)
}

// statusWith reads the pod's services from containerd, rebuilds the state
// machine from what its supervisor persisted plus that snapshot, and
// derives the phase with the one derivation. withFacts: take in what the
// pod's locks say about other processes (a caller that holds them itself,
// like gc, does not).
func (e *Engine) statusWith(ctx context.Context, rec *PodRecord, withFacts bool) (*PodStatus, error) {
	st := recordPart(rec)
	mon := e.readMonitorFile(rec.Plan.Name)
	snap := podstate.Snapshot{Tasks: map[string]podstate.TaskSnapshot{}}
	for _, s := range rec.Plan.Services {
		ss, err := e.serviceStatus(ctx, rec.Plan.Name, s)
		if err != nil {
			return nil, err
		}
		ss.Health, ss.Restarts = mon.Health[s.Name].Status, mon.Restarts[s.Name]
		switch {
		case ss.State == StateMissing:
			snap.Tasks[s.Name] = podstate.TaskSnapshot{Missing: true}
		case ss.State == StateExited && ss.ExitCode != nil:
			snap.Tasks[s.Name] = podstate.TaskSnapshot{Exited: true, ExitCode: *ss.ExitCode}
		default:
			snap.Tasks[s.Name] = podstate.TaskSnapshot{}
		}
		st.Services = append(st.Services, ss)
	}
	pod := restoreState(e.newPodState(rec, true), mon, true)
	pod, _ = podstate.Apply(pod, snap)
	var facts podstate.Facts
	if withFacts {
		facts = e.podFacts(rec)
	}
	d := podstate.Derive(pod, facts)
	st.State, st.Reason, st.Message = d.Phase, d.Reason, d.Message
	return st, nil
}

// podFacts reads what the pod's locks and record say about the processes
// working on it: a launch or a removal in progress (the mutation lock is
// held), a launch whose process died (the record still says launching),
// and whether the process that supervises it is alive (its owner lock).
func (e *Engine) podFacts(rec *PodRecord) podstate.Facts {
	pod := rec.Plan.Name
	var f podstate.Facts
	busy, _ := lockHeld(e.podLockPath(pod))
	switch {
	case rec.Launching && busy:
		f.Launching = true
	case rec.Launching:
		f.LaunchInterrupted = true
	case busy:
		f.Removing = true
	}
	e.supMu.Lock()
	_, supervised := e.sups[pod]
	e.supMu.Unlock()
	if rec.Owner != nil && !supervised && !e.holdsOwner(pod) {
		held, err := lockHeld(filepath.Join(e.podDir(pod), ownerLockFile))
		f.OwnerGone = err == nil && !held
	}
	return f
}

func (e *Engine) serviceStatus(ctx context.Context, pod string, s translate.ServiceSpec) (ServiceStatus, error) {
	ss := ServiceStatus{Name: s.Name, Image: s.Image, State: StateMissing}
	ctr, err := e.client.LoadContainer(ctx, serviceID(pod, s.Name))
	if errdefs.IsNotFound(err) {
		return ss, nil
	}
	if err != nil {
		return ss, fmt.Errorf("service %q: %w", s.Name, err)
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		ss.State = StateCreated
		return ss, nil
	}
	if err != nil {
		return ss, fmt.Errorf("service %q: loading task: %w", s.Name, err)
	}
	ts, err := task.Status(ctx)
	if err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			ss.State = StateCreated
			return ss, nil
		}
		return ss, fmt.Errorf("service %q: task status: %w", s.Name, err)
	}
	ss.PID = task.Pid()
	switch ts.Status {
	case client.Stopped:
		ss.State = StateExited
		code := ts.ExitStatus
		ss.ExitCode = &code
		ss.ExitedAt = ts.ExitTime
	case client.Created:
		ss.State = StateCreated
	default:
		ss.State = StateRunning
	}
	return ss, nil
}
