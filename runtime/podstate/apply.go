package podstate

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Restart backoff, doubled per restart of a service (docker's numbers),
// and how long an exit by SIGKILL waits for the OOM event that may
// explain it (containerd's shim reports the two independently).
const (
	RestartBackoffMin = 100 * time.Millisecond
	RestartBackoffMax = 10 * time.Second
	OOMGrace          = 250 * time.Millisecond
)

// Event is something that happened to a pod.
type Event interface{ event() }

// TaskStarted: a task of the service was started; Restarted says it was a
// restart by the policy (a RestartService action completed).
type TaskStarted struct {
	Service       string
	Restarted     bool
	NoHealthcheck bool
}

// TaskExited: the service's task exited (containerd's /tasks/exit).
type TaskExited struct {
	Service  string
	ExitCode uint32
}

// TaskOOM: the kernel OOM-killed in the service's task (/tasks/oom).
type TaskOOM struct{ Service string }

// HealthReported: a health probe result changed the service's health.
type HealthReported struct {
	Service string
	Health  Health
}

// TaskVanished: the service's task is gone without an exit being seen
// (/tasks/delete, or absent when listed).
type TaskVanished struct{ Service string }

// RestartFailed: a RestartService action could not start a new task; the
// exit that caused it stands.
type RestartFailed struct {
	Service  string
	ExitCode uint32
}

// StopRequested: the pod is being stopped on purpose.
type StopRequested struct{}

// Snapshot: the status of every service's task, listed from containerd
// (after subscribing, or resubscribing after an outage, and by `ps`), for
// what happened while no event could be seen.
type Snapshot struct{ Tasks map[string]TaskSnapshot }

// TaskSnapshot is one listed task. Missing: no container or no task.
type TaskSnapshot struct {
	Missing  bool
	Exited   bool
	ExitCode uint32
}

func (TaskStarted) event()    {}
func (TaskExited) event()     {}
func (TaskOOM) event()        {}
func (HealthReported) event() {}
func (TaskVanished) event()   {}
func (RestartFailed) event()  {}
func (StopRequested) event()  {}
func (Snapshot) event()       {}

// Action is what the supervisor must do after an event.
type Action interface{ action() }

// RestartService: after Delay, start a new task of Service (attempt
// Attempt), then report TaskStarted{Restarted: true} or RestartFailed.
type RestartService struct {
	Service  string
	Attempt  int
	Delay    time.Duration
	ExitCode uint32
}

// StopProbe: the service's task is gone; end its health probe.
type StopProbe struct{ Service string }

// StopPod: the failure policy: the pod failed, stop what still runs,
// after Delay (an exit by SIGKILL waits for the OOM event that may name
// its cause before the stop's own exits and publishes follow).
type StopPod struct {
	Failure Failure
	Delay   time.Duration
}

// Publish: the pod's state changed; tell watchers and persist it, after
// Delay (to let an OOM event name the cause of an exit by SIGKILL).
type Publish struct{ Delay time.Duration }

func (RestartService) action() {}
func (StopProbe) action()      {}
func (StopPod) action()        {}
func (Publish) action()        {}

// Apply returns the pod's state after ev, and the actions the supervisor
// must take. p is not changed.
func Apply(p Pod, ev Event) (Pod, []Action) {
	p = p.Clone()
	var acts []Action
	switch ev := ev.(type) {
	case TaskStarted:
		s := p.Service(ev.Service)
		if s == nil {
			return p, nil
		}
		s.Expected, s.Task, s.ExitCode, s.Lost, s.OOM = true, StatusRunning, 0, false, false
		s.NoHealthcheck = ev.NoHealthcheck
		if ev.Restarted {
			s.Restarts++
			s.Restarting = false
		}
		acts = append(acts, Publish{})
	case TaskExited:
		acts = p.exit(ev.Service, ev.ExitCode)
	case TaskOOM:
		s := p.Service(ev.Service)
		if s == nil {
			return p, nil
		}
		s.OOM = true
		if f := p.Failure; f != nil && f.Service == s.Name && f.Reason == ReasonServiceExit {
			*f = failureOf(s)
		}
		acts = append(acts, Publish{})
	case HealthReported:
		s := p.Service(ev.Service)
		if s == nil {
			return p, nil
		}
		s.Health = ev.Health
		acts = append(acts, Publish{})
	case TaskVanished:
		s := p.Service(ev.Service)
		if s == nil || s.exited() || s.Restarting || p.Stopping || !s.Expected {
			return p, nil
		}
		s.Lost = true
		acts = append(acts, StopProbe{s.Name}, Publish{})
	case RestartFailed:
		s := p.Service(ev.Service)
		if s == nil {
			return p, nil
		}
		s.Restarting = false
		s.Task, s.ExitCode = StatusExited, ev.ExitCode
		acts = append(acts, Publish{})
	case StopRequested:
		if p.Stopping {
			return p, nil
		}
		p.Stopping = true
		acts = append(acts, Publish{})
	case Snapshot:
		for i := range p.Services {
			s := &p.Services[i]
			t, ok := ev.Tasks[s.Name]
			if !ok || s.exited() || s.Restarting {
				continue
			}
			switch {
			case t.Missing:
				if !s.Expected || p.Stopping {
					continue
				}
				s.Lost = true
				acts = append(acts, StopProbe{s.Name})
			case t.Exited:
				acts = append(acts, p.exit(s.Name, t.ExitCode)...)
			default:
				s.Task = StatusRunning
				s.Expected = true
			}
		}
		acts = append(acts, Publish{})
	}
	// The failure policy: the first failure fails the pod, which is then
	// stopped.
	if p.Failure == nil && !p.Stopping {
		if f := p.firstFailure(); f != nil {
			p.Failure = f
			stop := StopPod{Failure: *f}
			if f.Reason == ReasonServiceExit && f.ExitCode == 137 {
				stop.Delay = OOMGrace
			}
			acts = append(acts, stop)
		}
	}
	return p, acts
}

// exit applies a task exit: the restart policy restarts the service, or
// the exit stands.
func (p *Pod) exit(svc string, code uint32) []Action {
	s := p.Service(svc)
	if s == nil || s.Restarting || s.exited() {
		return nil
	}
	acts := []Action{StopProbe{svc}}
	if !p.Stopping && p.Failure == nil && ShouldRestart(s.Restart, code, s.Restarts) {
		s.Restarting = true
		s.Task, s.ExitCode = StatusExited, code
		return append(acts, RestartService{Service: svc, Attempt: s.Restarts + 1, Delay: Backoff(s.Restarts), ExitCode: code})
	}
	s.Task, s.ExitCode = StatusExited, code
	if code == 137 && !s.OOM {
		return append(acts, Publish{Delay: OOMGrace})
	}
	return append(acts, Publish{})
}

// firstFailure is the failure of the first failing service in plan order.
func (p *Pod) firstFailure() *Failure {
	for i := range p.Services {
		s := &p.Services[i]
		failed := (s.exited() && s.ExitCode != 0) || s.Lost ||
			(p.UnhealthyKill && s.Health.Status == HealthUnhealthy && !s.exited())
		if failed {
			f := failureOf(s)
			return &f
		}
	}
	return nil
}

func failureOf(s *Service) Failure {
	f := Failure{Service: s.Name}
	switch {
	case s.exited() && s.ExitCode != 0:
		f.ExitCode = s.ExitCode
		if s.OOM {
			f.Reason = ReasonOOM
			f.Message = fmt.Sprintf("service %q was killed for exceeding its memory limit (exit code %d)", s.Name, s.ExitCode)
		} else {
			f.Reason = ReasonServiceExit
			f.Message = fmt.Sprintf("service %q exited with code %d", s.Name, s.ExitCode)
		}
		if s.Restarts > 0 {
			f.Message += fmt.Sprintf(" after %d restarts", s.Restarts)
		}
	case s.Lost:
		f.Reason = ReasonLost
		f.Message = fmt.Sprintf("service %q is gone: its task was removed without compod seeing it exit", s.Name)
	default:
		f.Reason = ReasonUnhealthy
		f.Message = fmt.Sprintf("service %q is unhealthy: %s", s.Name, s.Health.LastOutput())
	}
	return f
}

// ShouldRestart applies a compose restart policy to an exit, after
// restarts earlier restarts.
func ShouldRestart(policy string, code uint32, restarts int) bool {
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

// Backoff is the delay before restart number restarts+1.
func Backoff(restarts int) time.Duration {
	if restarts >= 10 {
		return RestartBackoffMax
	}
	return min(RestartBackoffMin<<restarts, RestartBackoffMax)
}
