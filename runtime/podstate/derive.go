package podstate

import (
	"fmt"
	"time"
)

// State is a pod's state as watchers (the executor, `compod up`) and
// `compod ps` see it.
type State struct {
	Pod   string
	Phase Phase
	// Service, ExitCode and Reason say what failed the pod.
	Service  string
	ExitCode uint32
	Reason   Reason
	// Message is a human sentence: "service \"web\" exited with code 3".
	Message string
	// Exits are the exit codes of every service that has exited (and was
	// not restarted) so far.
	Exits map[string]uint32
	// Health is the health status of every service with a healthcheck.
	Health map[string]string
	// Restarts counts restarts by the restart policy, per service.
	Restarts map[string]int
	Time     time.Time
}

// Facts are what the pod's state directory and locks say about the
// processes working on a pod, which a supervisor does not need to be told
// (it is the process) but `ps` does.
type Facts struct {
	// Launching: a launch of the pod is in progress.
	Launching bool
	// LaunchInterrupted: a launch began and its process died before it
	// completed.
	LaunchInterrupted bool
	// Removing: a stop or removal of the pod is in progress.
	Removing bool
	// OwnerGone: the process that supervised the pod is gone.
	OwnerGone bool
}

// Derive computes the pod's state (docs/lifecycle.md). It is the one
// derivation of a pod's phase: the supervisor's watchers and `ps` both
// use it.
func Derive(p Pod, f Facts) State {
	st := State{Pod: p.Name, Phase: PhaseRunning, Exits: map[string]uint32{},
		Health: map[string]string{}, Restarts: map[string]int{}}
	allExited, allZero := len(p.Services) > 0, true
	running := false
	for i := range p.Services {
		s := &p.Services[i]
		if s.exited() {
			st.Exits[s.Name] = s.ExitCode
			allZero = allZero && s.ExitCode == 0
		} else {
			allExited = false
			running = running || s.Task == StatusRunning || s.Restarting
		}
		if s.Health.Status != HealthNone {
			st.Health[s.Name] = s.Health.Status
		}
		if s.Restarts > 0 {
			st.Restarts[s.Name] = s.Restarts
		}
	}
	switch {
	case f.Launching:
		st.Phase = PhaseStarting
	case f.LaunchInterrupted:
		st.Phase, st.Reason = PhaseFailed, ReasonLaunchInterrupted
		st.Message = fmt.Sprintf("the launch of pod %q was interrupted before it completed: remove it with `compod down -p %s` or `compod gc`", p.Name, p.Name)
	case f.Removing:
		st.Phase = PhaseStopping
	case p.Failure != nil:
		st.Phase, st.Service, st.ExitCode, st.Reason, st.Message = PhaseFailed, p.Failure.Service, p.Failure.ExitCode, p.Failure.Reason, p.Failure.Message
	case allExited && allZero:
		st.Phase, st.Message = PhaseFinished, "every service exited 0"
	case allExited && p.Stopping:
		st.Phase, st.Message = PhaseStopped, "stopped on request"
	case p.Stopping:
		st.Phase = PhaseStopping
	case f.OwnerGone && running:
		st.Phase = PhaseUnsupervised
		st.Message = fmt.Sprintf("the process that supervised pod %q is gone: restart policies and health checks no longer run; `compod supervise -p %s` resumes them", p.Name, p.Name)
	}
	return st
}
