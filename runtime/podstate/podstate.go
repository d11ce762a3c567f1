// Package podstate is the pod state machine: what a pod's services are
// doing (task status, exit code, OOM kill, health, restarts), how each
// runtime event changes that, and what the supervisor must do about it
// (restart a service, stop the pod, publish). It is pure: no containerd,
// no clock, no goroutines, so every transition is table-tested.
//
// The supervisor (runtime/monitor.go) feeds it the events it learns from
// containerd and the health probes and carries out the actions; `compod
// ps` rebuilds the same state from what the supervisor persisted plus a
// snapshot of containerd's tasks, and both derive the pod's phase with
// the one function Derive.
package podstate

import (
	"fmt"
	"strings"
	"time"
)

// Phase is the pod-level state (docs/lifecycle.md).
type Phase string

const (
	PhaseStarting Phase = "starting" // a launch is in progress
	PhaseRunning  Phase = "running"  // services run, nothing failed
	PhaseFinished Phase = "finished" // every service exited 0
	PhaseFailed   Phase = "failed"   // a service failed; Reason says how
	PhaseStopping Phase = "stopping" // a stop or removal is in progress
	PhaseStopped  Phase = "stopped"  // stopped on request, nothing failed before
	// PhaseUnsupervised: services run but the process that supervised the
	// pod is gone, so restart policies and health checks no longer run.
	PhaseUnsupervised Phase = "unsupervised"
)

// Terminal says whether nothing more happens to a pod in this phase by
// itself.
func (p Phase) Terminal() bool {
	return p == PhaseFinished || p == PhaseFailed || p == PhaseStopped
}

// Reason says why a pod failed.
type Reason string

const (
	ReasonServiceExit Reason = "service-exit" // a service exited non-zero
	ReasonOOM         Reason = "oom"          // a service was killed for its memory limit
	ReasonUnhealthy   Reason = "unhealthy"    // a health check failed (kill policy)
	ReasonLost        Reason = "lost"         // a service's task disappeared
	// ReasonLaunchInterrupted: the process launching the pod died before
	// the launch completed.
	ReasonLaunchInterrupted Reason = "launch-interrupted"
)

// Task statuses of a service.
type TaskStatus string

const (
	StatusNone    TaskStatus = ""        // no task known (not started yet)
	StatusRunning TaskStatus = "running" // started (or created) and not exited
	StatusExited  TaskStatus = "exited"
)

// Health states (docker's names).
const (
	HealthNone      = ""
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// HealthResult is one probe.
type HealthResult struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	ExitCode int       `json:"exitCode"`
	Output   string    `json:"output"`
}

// Health is a service's health as ps and the executor see it.
type Health struct {
	Status        string         `json:"status"`
	FailingStreak int            `json:"failingStreak"`
	Log           []HealthResult `json:"log,omitempty"`
}

// LastOutput describes the last probe, for messages.
func (h Health) LastOutput() string {
	if len(h.Log) == 0 {
		return "no probe output"
	}
	last := h.Log[len(h.Log)-1]
	return fmt.Sprintf("last probe exited %d: %s", last.ExitCode, strings.TrimSpace(last.Output))
}

// Service is one service's state.
type Service struct {
	Name    string
	Restart string // compose restart policy: "", no, always, on-failure[:N], unless-stopped
	// Expected: a task of it should exist (the supervisor started it, or
	// the pod was launched by another process), so a missing task is lost.
	Expected bool
	Task     TaskStatus
	ExitCode uint32 // when Task is TaskExited
	OOM      bool   // containerd reported an OOM kill of its task
	Lost     bool   // its task vanished without an exit being seen
	// Restarting: the restart policy restarts it; a RestartService action
	// is under way.
	Restarting    bool
	Restarts      int
	NoHealthcheck bool // started without a healthcheck
	Health        Health
}

// Failure is what failed a pod: the first failure, kept from then on (the
// exits that stopping the pod causes do not replace it).
type Failure struct {
	Service  string `json:"service"`
	ExitCode uint32 `json:"exitCode,omitempty"`
	Reason   Reason `json:"reason"`
	Message  string `json:"message"`
}

// Pod is a pod's state.
type Pod struct {
	Name     string
	Services []Service // in plan order: the first failing one names a failure
	// UnhealthyKill: an unhealthy service fails the pod (the "kill"
	// policy); otherwise health is only reported.
	UnhealthyKill bool
	// Stopping: a stop was requested (by a user, the executor, or the
	// failure policy); exits from here on are not failures.
	Stopping bool
	Failure  *Failure
}

// ServiceSpec is what the state machine needs of a service's plan.
type ServiceSpec struct {
	Name    string
	Restart string
}

// New returns the state of a pod whose services have not started.
// expected says whether every service should already have a task (a pod
// launched by another process).
func New(name string, services []ServiceSpec, unhealthyKill, expected bool) Pod {
	p := Pod{Name: name, UnhealthyKill: unhealthyKill}
	for _, s := range services {
		p.Services = append(p.Services, Service{Name: s.Name, Restart: s.Restart, Expected: expected})
	}
	return p
}

// Clone returns a deep copy (Apply works on copies: a state handed out is
// never changed behind its holder's back).
func (p Pod) Clone() Pod {
	q := p
	q.Services = make([]Service, len(p.Services))
	for i, s := range p.Services {
		s.Health.Log = append([]HealthResult(nil), s.Health.Log...)
		q.Services[i] = s
	}
	if p.Failure != nil {
		f := *p.Failure
		q.Failure = &f
	}
	return q
}

// Service returns the named service's state (nil if the pod has none).
func (p *Pod) Service(name string) *Service {
	for i := range p.Services {
		if p.Services[i].Name == name {
			return &p.Services[i]
		}
	}
	return nil
}

// exited reports whether the service has ended for good (exited, and the
// restart policy does not restart it).
func (s *Service) exited() bool { return s.Task == StatusExited && !s.Restarting }
