package podstate

import (
	"reflect"
	"testing"
	"time"
)

// pod is a two-service pod, both running, launched by this supervisor.
func pod(restartWeb string, unhealthyKill bool) Pod {
	p := New("p", []ServiceSpec{{Name: "web", Restart: restartWeb}, {Name: "db"}}, unhealthyKill, false)
	for _, s := range []string{"web", "db"} {
		p, _ = Apply(p, TaskStarted{Service: s})
	}
	return p
}

func unhealthy() Health {
	return Health{Status: HealthUnhealthy, FailingStreak: 3, Log: []HealthResult{{ExitCode: 1, Output: "no file\n"}}}
}

// run applies events in order and returns the final pod, the actions of
// the last event, and the derived state.
func run(p Pod, evs ...Event) (Pod, []Action, State) {
	var acts []Action
	for _, ev := range evs {
		p, acts = Apply(p, ev)
	}
	return p, acts, Derive(p, Facts{})
}

func TestApply(t *testing.T) {
	webFailed := Failure{Service: "web", ExitCode: 3, Reason: ReasonServiceExit, Message: `service "web" exited with code 3`}
	tests := []struct {
		name      string
		pod       Pod
		events    []Event
		phase     Phase
		failure   *Failure
		actions   []Action // of the last event
		exits     map[string]uint32
		restarts  map[string]int
		restartOf string // the service that is restarting, if any
	}{
		{name: "started: running", pod: pod("", true), phase: PhaseRunning,
			events: []Event{TaskStarted{Service: "web"}}, actions: []Action{Publish{}}},
		{name: "exit 0 of one service: still running", pod: pod("", true), phase: PhaseRunning,
			events:  []Event{TaskExited{Service: "web"}},
			actions: []Action{StopProbe{"web"}, Publish{}}, exits: map[string]uint32{"web": 0}},
		{name: "every service exit 0: finished", pod: pod("", true), phase: PhaseFinished,
			events:  []Event{TaskExited{Service: "web"}, TaskExited{Service: "db"}},
			actions: []Action{StopProbe{"db"}, Publish{}}, exits: map[string]uint32{"web": 0, "db": 0}},
		{name: "exit non-zero: failed and the pod is stopped", pod: pod("", true), phase: PhaseFailed, failure: &webFailed,
			events:  []Event{TaskExited{Service: "web", ExitCode: 3}},
			actions: []Action{StopProbe{"web"}, Publish{}, StopPod{Failure: webFailed}}, exits: map[string]uint32{"web": 3}},
		{name: "exits caused by the stop do not replace the failure", pod: pod("", true), phase: PhaseFailed, failure: &webFailed,
			events:  []Event{TaskExited{Service: "web", ExitCode: 3}, StopRequested{}, TaskExited{Service: "db", ExitCode: 143}},
			actions: []Action{StopProbe{"db"}, Publish{}}, exits: map[string]uint32{"web": 3, "db": 143}},
		{name: "the first failure in plan order names the pod's", pod: pod("", true), phase: PhaseFailed,
			failure: &Failure{Service: "db", ExitCode: 2, Reason: ReasonServiceExit, Message: `service "db" exited with code 2`},
			events:  []Event{TaskExited{Service: "db", ExitCode: 2}, TaskExited{Service: "web", ExitCode: 3}},
			actions: []Action{StopProbe{"web"}, Publish{}}, exits: map[string]uint32{"web": 3, "db": 2}},
		{name: "exit 137 waits for the OOM event before publishing", pod: pod("", true), phase: PhaseFailed,
			failure: &Failure{Service: "web", ExitCode: 137, Reason: ReasonServiceExit, Message: `service "web" exited with code 137`},
			events:  []Event{TaskExited{Service: "web", ExitCode: 137}},
			actions: []Action{StopProbe{"web"}, Publish{Delay: OOMGrace}, StopPod{Failure: Failure{Service: "web", ExitCode: 137, Reason: ReasonServiceExit, Message: `service "web" exited with code 137`}, Delay: OOMGrace}},
			exits:   map[string]uint32{"web": 137}},
		{name: "OOM after the exit names the memory limit", pod: pod("", true), phase: PhaseFailed,
			failure: &Failure{Service: "web", ExitCode: 137, Reason: ReasonOOM, Message: `service "web" was killed for exceeding its memory limit (exit code 137)`},
			events:  []Event{TaskExited{Service: "web", ExitCode: 137}, TaskOOM{Service: "web"}},
			actions: []Action{Publish{}}, exits: map[string]uint32{"web": 137}},
		{name: "OOM before the exit", pod: pod("", true), phase: PhaseFailed,
			failure: &Failure{Service: "web", ExitCode: 137, Reason: ReasonOOM, Message: `service "web" was killed for exceeding its memory limit (exit code 137)`},
			events:  []Event{TaskOOM{Service: "web"}, TaskExited{Service: "web", ExitCode: 137}},
			actions: []Action{StopProbe{"web"}, Publish{}, StopPod{Failure: Failure{Service: "web", ExitCode: 137, Reason: ReasonOOM, Message: `service "web" was killed for exceeding its memory limit (exit code 137)`}}},
			exits:   map[string]uint32{"web": 137}},
		{name: "unhealthy with the kill policy: failed and stopped", pod: pod("", true), phase: PhaseFailed,
			failure: &Failure{Service: "web", Reason: ReasonUnhealthy, Message: `service "web" is unhealthy: last probe exited 1: no file`},
			events:  []Event{HealthReported{Service: "web", Health: Health{Status: HealthHealthy}}, HealthReported{Service: "web", Health: unhealthy()}},
			actions: []Action{Publish{}, StopPod{Failure: Failure{Service: "web", Reason: ReasonUnhealthy, Message: `service "web" is unhealthy: last probe exited 1: no file`}}}},
		{name: "unhealthy with the report policy: running", pod: pod("", false), phase: PhaseRunning,
			events: []Event{HealthReported{Service: "web", Health: unhealthy()}}, actions: []Action{Publish{}}},
		{name: "unhealthy while stopping: not a failure", pod: pod("", true), phase: PhaseStopping,
			events: []Event{StopRequested{}, HealthReported{Service: "web", Health: unhealthy()}}, actions: []Action{Publish{}}},
		{name: "restart no", pod: pod("no", true), phase: PhaseFailed, failure: &webFailed,
			events:  []Event{TaskExited{Service: "web", ExitCode: 3}},
			actions: []Action{StopProbe{"web"}, Publish{}, StopPod{Failure: webFailed}}, exits: map[string]uint32{"web": 3}},
		{name: "restart always on exit 0", pod: pod("always", true), phase: PhaseRunning, restartOf: "web",
			events:  []Event{TaskExited{Service: "web", ExitCode: 0}},
			actions: []Action{StopProbe{"web"}, RestartService{Service: "web", Attempt: 1, Delay: RestartBackoffMin}}},
		{name: "restart unless-stopped on exit 1", pod: pod("unless-stopped", true), phase: PhaseRunning, restartOf: "web",
			events:  []Event{TaskExited{Service: "web", ExitCode: 1}},
			actions: []Action{StopProbe{"web"}, RestartService{Service: "web", Attempt: 1, Delay: RestartBackoffMin, ExitCode: 1}}},
		{name: "on-failure does not restart exit 0", pod: pod("on-failure", true), phase: PhaseRunning,
			events:  []Event{TaskExited{Service: "web"}},
			actions: []Action{StopProbe{"web"}, Publish{}}, exits: map[string]uint32{"web": 0}},
		{name: "restart done: counted, backoff doubles", pod: pod("on-failure", true), phase: PhaseRunning, restartOf: "web",
			events: []Event{TaskExited{Service: "web", ExitCode: 1}, TaskStarted{Service: "web", Restarted: true},
				TaskExited{Service: "web", ExitCode: 1}},
			actions:  []Action{StopProbe{"web"}, RestartService{Service: "web", Attempt: 2, Delay: 2 * RestartBackoffMin, ExitCode: 1}},
			restarts: map[string]int{"web": 1}},
		{name: "on-failure:1 past its maximum fails the pod", pod: pod("on-failure:1", true), phase: PhaseFailed,
			failure: &Failure{Service: "web", ExitCode: 1, Reason: ReasonServiceExit, Message: `service "web" exited with code 1 after 1 restarts`},
			events: []Event{TaskExited{Service: "web", ExitCode: 1}, TaskStarted{Service: "web", Restarted: true},
				TaskExited{Service: "web", ExitCode: 1}},
			actions:  []Action{StopProbe{"web"}, Publish{}, StopPod{Failure: Failure{Service: "web", ExitCode: 1, Reason: ReasonServiceExit, Message: `service "web" exited with code 1 after 1 restarts`}}},
			exits:    map[string]uint32{"web": 1},
			restarts: map[string]int{"web": 1}},
		{name: "a restart that fails: the exit stands", pod: pod("always", true), phase: PhaseFailed,
			failure: &Failure{Service: "web", ExitCode: 1, Reason: ReasonServiceExit, Message: `service "web" exited with code 1`},
			events:  []Event{TaskExited{Service: "web", ExitCode: 1}, RestartFailed{Service: "web", ExitCode: 1}},
			actions: []Action{Publish{}, StopPod{Failure: Failure{Service: "web", ExitCode: 1, Reason: ReasonServiceExit, Message: `service "web" exited with code 1`}}},
			exits:   map[string]uint32{"web": 1}},
		{name: "exits while restarting are the old task's", pod: pod("always", true), phase: PhaseRunning, restartOf: "web",
			events: []Event{TaskExited{Service: "web", ExitCode: 1}, TaskExited{Service: "web", ExitCode: 137}}},
		{name: "stop requested: no restart, no failure, stopped once all exited", pod: pod("always", true), phase: PhaseStopped,
			events:  []Event{StopRequested{}, TaskExited{Service: "web", ExitCode: 143}, TaskExited{Service: "db", ExitCode: 137}},
			actions: []Action{StopProbe{"db"}, Publish{Delay: OOMGrace}}, exits: map[string]uint32{"web": 143, "db": 137}},
		{name: "stop requested, some still run: stopping", pod: pod("", true), phase: PhaseStopping,
			events:  []Event{StopRequested{}, TaskExited{Service: "web", ExitCode: 143}},
			actions: []Action{StopProbe{"web"}, Publish{}}, exits: map[string]uint32{"web": 143}},
		{name: "a second stop request changes nothing", pod: pod("", true), phase: PhaseStopping,
			events: []Event{StopRequested{}, StopRequested{}}},
		{name: "vanished task: lost", pod: pod("", true), phase: PhaseFailed,
			failure: &Failure{Service: "db", Reason: ReasonLost, Message: `service "db" is gone: its task was removed without compod seeing it exit`},
			events:  []Event{TaskVanished{Service: "db"}},
			actions: []Action{StopProbe{"db"}, Publish{}, StopPod{Failure: Failure{Service: "db", Reason: ReasonLost, Message: `service "db" is gone: its task was removed without compod seeing it exit`}}}},
		{name: "vanished after its exit: not lost", pod: pod("", true), phase: PhaseRunning,
			events: []Event{TaskExited{Service: "db"}, TaskVanished{Service: "db"}}, exits: map[string]uint32{"db": 0}},
		{name: "vanished while stopping: not lost", pod: pod("", true), phase: PhaseStopping,
			events: []Event{StopRequested{}, TaskVanished{Service: "db"}}},
		{name: "vanished before it was started here: not lost",
			pod:   New("p", []ServiceSpec{{Name: "web"}, {Name: "db"}}, true, false),
			phase: PhaseRunning, events: []Event{TaskVanished{Service: "db"}}},
		{name: "reconcile after an outage finds a missed exit", pod: pod("", true), phase: PhaseFailed,
			failure: &Failure{Service: "db", ExitCode: 4, Reason: ReasonServiceExit, Message: `service "db" exited with code 4`},
			events:  []Event{Snapshot{Tasks: map[string]TaskSnapshot{"web": {}, "db": {Exited: true, ExitCode: 4}}}},
			actions: []Action{StopProbe{"db"}, Publish{}, Publish{}, StopPod{Failure: Failure{Service: "db", ExitCode: 4, Reason: ReasonServiceExit, Message: `service "db" exited with code 4`}}},
			exits:   map[string]uint32{"db": 4}},
		{name: "reconcile reports an exit already seen once only", pod: pod("", true), phase: PhaseRunning,
			events:  []Event{TaskExited{Service: "db"}, Snapshot{Tasks: map[string]TaskSnapshot{"web": {}, "db": {Exited: true}}}},
			actions: []Action{Publish{}}, exits: map[string]uint32{"db": 0}},
		{name: "reconcile restarts a missed exit per policy", pod: pod("on-failure", true), phase: PhaseRunning, restartOf: "web",
			events:  []Event{Snapshot{Tasks: map[string]TaskSnapshot{"web": {Exited: true, ExitCode: 1}, "db": {}}}},
			actions: []Action{StopProbe{"web"}, RestartService{Service: "web", Attempt: 1, Delay: RestartBackoffMin, ExitCode: 1}, Publish{}}},
		{name: "reconcile of a pod launched elsewhere: a missing task is lost",
			pod:   New("p", []ServiceSpec{{Name: "web"}, {Name: "db"}}, true, true),
			phase: PhaseFailed, failure: &Failure{Service: "web", Reason: ReasonLost, Message: `service "web" is gone: its task was removed without compod seeing it exit`},
			events:  []Event{Snapshot{Tasks: map[string]TaskSnapshot{"web": {Missing: true}, "db": {}}}},
			actions: []Action{StopProbe{"web"}, Publish{}, StopPod{Failure: Failure{Service: "web", Reason: ReasonLost, Message: `service "web" is gone: its task was removed without compod seeing it exit`}}}},
		{name: "events of services the pod does not have change nothing", pod: pod("", true), phase: PhaseRunning,
			events: []Event{TaskExited{Service: "other", ExitCode: 1}, TaskOOM{Service: "other"}, TaskVanished{Service: "other"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.pod.Clone()
			p, acts, st := run(tt.pod, tt.events...)
			if !reflect.DeepEqual(tt.pod, before) {
				t.Errorf("Apply changed its input")
			}
			if st.Phase != tt.phase {
				t.Errorf("phase %s, want %s (state %+v)", st.Phase, tt.phase, st)
			}
			if !reflect.DeepEqual(p.Failure, tt.failure) {
				t.Errorf("failure %+v, want %+v", p.Failure, tt.failure)
			}
			if tt.failure != nil && (st.Service != tt.failure.Service || st.Reason != tt.failure.Reason || st.Message != tt.failure.Message || st.ExitCode != tt.failure.ExitCode) {
				t.Errorf("state %+v does not carry the failure %+v", st, tt.failure)
			}
			if !reflect.DeepEqual(acts, tt.actions) {
				t.Errorf("actions %#v, want %#v", acts, tt.actions)
			}
			if want := orEmpty(tt.exits); !reflect.DeepEqual(st.Exits, want) {
				t.Errorf("exits %v, want %v", st.Exits, want)
			}
			if want := tt.restarts; want == nil && len(st.Restarts) > 0 || want != nil && !reflect.DeepEqual(st.Restarts, want) {
				t.Errorf("restarts %v, want %v", st.Restarts, want)
			}
			for _, s := range p.Services {
				if s.Restarting != (s.Name == tt.restartOf) {
					t.Errorf("service %s restarting %v, want %v", s.Name, s.Restarting, s.Name == tt.restartOf)
				}
			}
		})
	}
}

func orEmpty(m map[string]uint32) map[string]uint32 {
	if m == nil {
		return map[string]uint32{}
	}
	return m
}

func TestShouldRestart(t *testing.T) {
	tests := []struct {
		policy   string
		code     uint32
		restarts int
		want     bool
	}{
		{"", 1, 0, false}, {"no", 1, 0, false},
		{"always", 0, 0, true}, {"always", 1, 50, true},
		{"unless-stopped", 0, 3, true},
		{"on-failure", 0, 0, false}, {"on-failure", 1, 99, true},
		{"on-failure:2", 1, 1, true}, {"on-failure:2", 1, 2, false}, {"on-failure:2", 0, 0, false},
		{"on-failure:x", 1, 0, false},
	}
	for _, tt := range tests {
		if got := ShouldRestart(tt.policy, tt.code, tt.restarts); got != tt.want {
			t.Errorf("ShouldRestart(%q, %d, %d) = %v, want %v", tt.policy, tt.code, tt.restarts, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		if got := Backoff(n); got != want {
			t.Errorf("Backoff(%d) = %v, want %v", n, got, want)
		}
	}
	if got := Backoff(7); got != RestartBackoffMax {
		t.Errorf("Backoff(7) = %v, want the maximum %v", got, RestartBackoffMax)
	}
	if got := Backoff(100); got != RestartBackoffMax {
		t.Errorf("Backoff(100) = %v, want the maximum", got)
	}
}

// Derive with what the state directory and locks say (what `ps` sees).
func TestDeriveFacts(t *testing.T) {
	failed, _ := Apply(pod("", true), TaskExited{Service: "web", ExitCode: 3})
	tests := []struct {
		name  string
		pod   Pod
		facts Facts
		want  Phase
	}{
		{"launch in progress", New("p", []ServiceSpec{{Name: "web"}}, true, false), Facts{Launching: true}, PhaseStarting},
		{"launch interrupted", pod("", true), Facts{LaunchInterrupted: true}, PhaseFailed},
		{"removal in progress", pod("", true), Facts{Removing: true}, PhaseStopping},
		{"owner gone while services run", pod("", true), Facts{OwnerGone: true}, PhaseUnsupervised},
		{"owner gone after the pod failed", failed, Facts{OwnerGone: true}, PhaseFailed},
		{"owner here", pod("", true), Facts{}, PhaseRunning},
	}
	for _, tt := range tests {
		if got := Derive(tt.pod, tt.facts); got.Phase != tt.want {
			t.Errorf("%s: phase %s, want %s", tt.name, got.Phase, tt.want)
		}
	}
	st := Derive(pod("", true), Facts{LaunchInterrupted: true})
	if st.Reason != ReasonLaunchInterrupted || st.Message == "" {
		t.Errorf("interrupted launch: %+v, want the reason and a message", st)
	}
}
