package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/compod/compod/translate"
)

// Service states as `compod ps` shows them.
const (
	StateCreated = "created"
	StateRunning = "running"
	StateExited  = "exited"
	StateMissing = "missing" // in the plan, but no container (not started, or removed)
)

// Pod states.
const (
	PodRunning  = "running"  // at least one service runs
	PodFinished = "finished" // every service exited 0
	PodFailed   = "failed"   // a service exited non-zero or is missing
)

// PodStatus is a pod as `compod ps` shows it.
type PodStatus struct {
	Name  string `json:"name"`
	State string `json:"state"`
	IP    string `json:"ip,omitempty"`
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
	st := &PodStatus{Name: rec.Plan.Name, IP: rec.IP, Networks: networkStatuses(rec), Ports: rec.Ports, Created: rec.Created,
		NetNS: rec.NetNSPath, Cgroup: rec.Cgroup}
	running, failed := 0, 0
	mon := e.readMonitorFile(rec.Plan.Name)
	for _, s := range rec.Plan.Services {
		ss, err := e.serviceStatus(ctx, rec.Plan.Name, s)
		if err != nil {
			return nil, err
		}
		ss.Health, ss.Restarts = mon.Health[s.Name].Status, mon.Restarts[s.Name]
		switch {
		case ss.State == StateRunning || ss.State == StateCreated:
			running++
		case ss.State == StateMissing || (ss.ExitCode != nil && *ss.ExitCode != 0):
			failed++
		}
		st.Services = append(st.Services, ss)
	}
	switch {
	case running > 0:
		st.State = PodRunning
	case failed > 0:
		st.State = PodFailed
	default:
		st.State = PodFinished
	}
	return st, nil
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
