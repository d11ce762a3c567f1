package runtime

import "time"

// PodPhase is the pod-level state the monitor derives from containerd's
// task events (see docs/lifecycle.md).
type PodPhase string

const (
	PhaseRunning  PodPhase = "running"
	PhaseFinished PodPhase = "finished" // every service exited 0
	PhaseFailed   PodPhase = "failed"   // a service failed; Reason says how
)

// FailureReason says why a pod failed, for Mesos reasons and exit codes.
type FailureReason string

const (
	ReasonServiceExit FailureReason = "service-exit" // a service exited non-zero
	ReasonOOM         FailureReason = "oom"          // a service was killed for its memory limit
	ReasonUnhealthy   FailureReason = "unhealthy"    // a health check failed
	ReasonLost        FailureReason = "lost"         // a service's task disappeared
)

// PodState is one transition of a pod, as Watch reports it.
type PodState struct {
	Pod   string
	Phase PodPhase
	// Service, ExitCode and Reason describe what caused a failure (or the
	// last exit, for finished).
	Service  string
	ExitCode uint32
	Reason   FailureReason
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
