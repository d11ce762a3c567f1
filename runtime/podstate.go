package runtime

import "github.com/compod/compod/runtime/podstate"

// The pod state machine lives in runtime/podstate; these names are the
// runtime API's view of it (docs/lifecycle.md).

// PodPhase is the pod-level state: the one derivation (podstate.Derive)
// that Watch, `compod ps`, `compod up`, `compod supervise` and the
// executor all see.
type PodPhase = podstate.Phase

const (
	PhaseStarting     = podstate.PhaseStarting
	PhaseRunning      = podstate.PhaseRunning
	PhaseFinished     = podstate.PhaseFinished
	PhaseFailed       = podstate.PhaseFailed
	PhaseStopping     = podstate.PhaseStopping
	PhaseStopped      = podstate.PhaseStopped
	PhaseUnsupervised = podstate.PhaseUnsupervised
)

// FailureReason says why a pod failed, for Mesos reasons and exit codes.
type FailureReason = podstate.Reason

const (
	ReasonServiceExit       = podstate.ReasonServiceExit
	ReasonOOM               = podstate.ReasonOOM
	ReasonUnhealthy         = podstate.ReasonUnhealthy
	ReasonLost              = podstate.ReasonLost
	ReasonLaunchInterrupted = podstate.ReasonLaunchInterrupted
)

// PodState is one transition of a pod, as Watch reports it.
type PodState = podstate.State
