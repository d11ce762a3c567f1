package runtime

import (
	"context"
	"errors"
)

// StateUnknown is the state of a pod and of its services when containerd
// cannot be asked: `compod ps` shows them from their records.
const StateUnknown = "unknown"

// errNotAsked is ContainerdErr of a state-dir view opened without an
// address.
var errNotAsked = errors.New("containerd was not asked")

// OpenStateDir returns an engine for reading pods (Pods, Logs) that makes
// and writes nothing: no state dir, no CNI config, no host-helper probe.
// It connects to containerd at address (none when address is ""); an
// unreachable containerd is no error: ContainerdErr says why, and Pods
// answers from the pods' records. So `compod ps` and `compod logs` work
// while containerd is down. Pods are changed through an engine of New.
func OpenStateDir(ctx context.Context, address string, opts ...Option) (*Engine, error) {
	e, err := configure(opts)
	if err != nil {
		return nil, err
	}
	if address == "" {
		e.containerdErr = errNotAsked
		return e, nil
	}
	c, err := dial(ctx, address)
	if err != nil {
		e.containerdErr = err
		return e, nil
	}
	e.client = c
	return e, nil
}

// ContainerdErr is why this engine has no containerd connection; nil when
// it has one.
func (e *Engine) ContainerdErr() error { return e.containerdErr }

// Pods returns the status of every pod, or of the one named: from
// containerd when this engine is connected, else from the pods' records
// with StateUnknown for the pod and its services (health and restarts as
// last recorded).
func (e *Engine) Pods(ctx context.Context, pod string) ([]PodStatus, error) {
	if e.client != nil {
		if pod == "" {
			return e.List(ctx)
		}
		st, err := e.Status(ctx, pod)
		if err != nil {
			return nil, err
		}
		return []PodStatus{*st}, nil
	}
	var recs []*PodRecord
	if pod == "" {
		var err error
		if recs, err = e.records(); err != nil {
			return nil, err
		}
	} else {
		rec, err := e.readRecord(pod)
		if err != nil {
			return nil, err
		}
		recs = []*PodRecord{rec}
	}
	out := make([]PodStatus, 0, len(recs))
	for _, rec := range recs {
		out = append(out, e.recordedStatus(rec))
	}
	return out, nil
}

// recordedStatus is what is known of a pod without containerd.
func (e *Engine) recordedStatus(rec *PodRecord) PodStatus {
	st := *recordPart(rec)
	st.State = StateUnknown
	mon := e.readMonitorFile(rec.Plan.Name)
	for _, s := range rec.Plan.Services {
		st.Services = append(st.Services, ServiceStatus{
			Name: s.Name, Image: s.Image, State: StateUnknown,
			Health: mon.Health[s.Name].Status, Restarts: mon.Restarts[s.Name],
		})
	}
	return st
}
