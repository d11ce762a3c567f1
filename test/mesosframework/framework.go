// Package mesosframework is a minimal Mesos v1 scheduler (framework) for
// compod's real-agent check (`make mesos-e2e`): it subscribes to a master
// with mesos-go's scheduler HTTP API (protobuf), holds the offers it gets,
// launches tasks whose executor is compod as a CUSTOM executor, records
// every status update with the time it arrived, acknowledges them, and
// kills tasks. It is test tooling: compod itself never needs it.
package mesosframework

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpsched"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler/calls"
)

// Config configures a framework.
type Config struct {
	// Master is the master's host:port.
	Master string
	// Name is the framework name (default compod-mesos-e2e).
	Name string
	// User runs the executors (default root).
	User string
	// Checkpoint asks agents to checkpoint the tasks (as Marathon does):
	// the executor gets MESOS_CHECKPOINT=1.
	Checkpoint bool
	// Logf, when set, gets one line per event.
	Logf func(format string, args ...any)
}

// Update is a status update as the framework received it.
type Update struct {
	At     time.Time
	Status mesos.TaskStatus
}

// Failure is a FAILURE event (an executor or agent went away).
type Failure struct {
	At         time.Time
	AgentID    string
	ExecutorID string
	Status     *int32 // wait status, when the agent knows it
}

// Framework is one subscription to the master.
type Framework struct {
	cfg    Config
	caller calls.Caller
	start  time.Time
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change below
	id       string
	offers   []mesos.Offer // held, in arrival order
	updates  map[string][]Update
	failures []Failure
	err      error // why the event stream ended
}

// Subscribe subscribes to the master and returns once SUBSCRIBED arrived
// (or ctx ends). Close tears the framework down.
func Subscribe(ctx context.Context, cfg Config) (*Framework, error) {
	if cfg.Name == "" {
		cfg.Name = "compod-mesos-e2e"
	}
	if cfg.User == "" {
		cfg.User = "root"
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	f := &Framework{
		cfg:     cfg,
		start:   time.Now(),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		updates: map[string][]Update{},
	}
	f.caller = httpsched.NewCaller(httpcli.New(
		httpcli.Endpoint(fmt.Sprintf("http://%s/api/v1/scheduler", cfg.Master)),
	))
	checkpoint := cfg.Checkpoint
	info := &mesos.FrameworkInfo{
		User:       cfg.User,
		Name:       cfg.Name,
		Checkpoint: &checkpoint,
	}
	streamCtx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	resp, err := f.caller.Call(streamCtx, calls.Subscribe(info))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("subscribing to the master at %s: %w", cfg.Master, err)
	}
	go f.events(streamCtx, resp)
	if _, err := f.wait(ctx, func() (bool, error) { return f.id != "", nil }); err != nil {
		f.Close(context.Background())
		return nil, fmt.Errorf("waiting for SUBSCRIBED: %w", err)
	}
	return f, nil
}

// ID is the framework id the master gave.
func (f *Framework) ID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.id
}

// Since is the time since the framework subscribed, for logs.
func (f *Framework) Since() time.Duration { return time.Since(f.start) }

func (f *Framework) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// wait calls cond (with f.mu held) on every change until it is true or
// fails, the event stream ends, or ctx ends.
func (f *Framework) wait(ctx context.Context, cond func() (bool, error)) (bool, error) {
	for {
		f.mu.Lock()
		ok, err := cond()
		streamErr := f.err
		ch := f.changed
		f.mu.Unlock()
		if ok || err != nil {
			return ok, err
		}
		if streamErr != nil {
			return false, fmt.Errorf("scheduler event stream ended: %w", streamErr)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

func (f *Framework) events(ctx context.Context, resp mesos.Response) {
	defer close(f.done)
	defer resp.Close()
	for {
		var e scheduler.Event
		err := resp.Decode(&e)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			f.mu.Lock()
			f.err = err
			f.notifyLocked()
			f.mu.Unlock()
			return
		}
		f.handle(ctx, &e)
	}
}

func (f *Framework) handle(ctx context.Context, e *scheduler.Event) {
	now := time.Now()
	switch e.GetType() {
	case scheduler.Event_SUBSCRIBED:
		id := e.GetSubscribed().GetFrameworkID().GetValue()
		f.cfg.Logf("subscribed as framework %s", id)
		f.mu.Lock()
		f.id = id
		f.notifyLocked()
		f.mu.Unlock()
	case scheduler.Event_OFFERS:
		offers := e.GetOffers().GetOffers()
		for _, o := range offers {
			f.cfg.Logf("offer %s from agent %s: %s", o.ID.Value, o.AgentID.Value, mesos.Resources(o.Resources))
		}
		f.mu.Lock()
		f.offers = append(f.offers, offers...)
		f.notifyLocked()
		f.mu.Unlock()
	case scheduler.Event_RESCIND:
		id := e.GetRescind().GetOfferID()
		f.cfg.Logf("offer %s rescinded", id.Value)
		f.mu.Lock()
		f.offers = slices.DeleteFunc(f.offers, func(o mesos.Offer) bool { return o.ID == id })
		f.notifyLocked()
		f.mu.Unlock()
	case scheduler.Event_UPDATE:
		st := e.GetUpdate().GetStatus()
		f.cfg.Logf("update: task %s %s source=%s reason=%s healthy=%s message=%q",
			st.TaskID.Value, st.GetState(), st.GetSource(), reason(st), healthy(st), st.GetMessage())
		f.mu.Lock()
		f.updates[st.TaskID.Value] = append(f.updates[st.TaskID.Value], Update{At: now, Status: st})
		f.notifyLocked()
		fid := f.id
		f.mu.Unlock()
		if len(st.UUID) > 0 && st.AgentID != nil {
			ack := calls.Acknowledge(st.AgentID.Value, st.TaskID.Value, st.UUID).With(calls.Framework(fid))
			if err := calls.CallNoData(ctx, f.caller, ack); err != nil && ctx.Err() == nil {
				f.cfg.Logf("acknowledging task %s %s: %v", st.TaskID.Value, st.GetState(), err)
			}
		}
	case scheduler.Event_FAILURE:
		fl := e.GetFailure()
		x := Failure{At: now, AgentID: fl.GetAgentID().GetValue(), ExecutorID: fl.GetExecutorID().GetValue(), Status: fl.Status}
		status := "unknown"
		if x.Status != nil {
			status = fmt.Sprintf("wait status %d", *x.Status)
		}
		f.cfg.Logf("failure: agent %s executor %q (%s)", x.AgentID, x.ExecutorID, status)
		f.mu.Lock()
		f.failures = append(f.failures, x)
		f.notifyLocked()
		f.mu.Unlock()
	case scheduler.Event_ERROR:
		f.cfg.Logf("error event: %s", e.GetError().GetMessage())
		f.mu.Lock()
		f.err = fmt.Errorf("master sent ERROR: %s", e.GetError().GetMessage())
		f.notifyLocked()
		f.mu.Unlock()
	case scheduler.Event_HEARTBEAT:
	default:
		f.cfg.Logf("event %s", e.GetType())
	}
}

func healthy(st mesos.TaskStatus) string {
	if st.Healthy == nil {
		return "-"
	}
	return fmt.Sprint(*st.Healthy)
}

// Launched is a task the master was asked to launch.
type Launched struct {
	// At is when the ACCEPT call was sent.
	At    time.Time
	Task  mesos.TaskInfo
	Match Match
}

// Launch waits (until ctx ends) for held offers that hold spec, and
// accepts them with a LAUNCH of the task. Offers of the matched agent are
// all accepted; what the task does not use goes back to the master at
// once (refuse_seconds 0).
func (f *Framework) Launch(ctx context.Context, spec TaskSpec) (Launched, error) {
	var m Match
	var lastErr error
	_, err := f.wait(ctx, func() (bool, error) {
		var err error
		m, err = MatchOffers(f.offers, spec.Request)
		if err != nil {
			lastErr = err
			return false, nil
		}
		// Taken out now: nobody else may accept them.
		f.offers = slices.DeleteFunc(f.offers, func(o mesos.Offer) bool { return slices.Contains(m.OfferIDs, o.ID) })
		return true, nil
	})
	if err != nil {
		if lastErr != nil {
			err = fmt.Errorf("%w (last: %v)", err, lastErr)
		}
		return Launched{}, fmt.Errorf("waiting for offers for task %s: %w", spec.TaskID, err)
	}
	task := BuildTask(spec, f.ID(), m)
	call := calls.Accept(calls.OfferOperations{calls.OpLaunch(task)}.WithOffers(m.OfferIDs...)).
		With(calls.Framework(f.ID()), calls.RefuseSeconds(0))
	at := time.Now()
	if err := calls.CallNoData(ctx, f.caller, call); err != nil {
		return Launched{}, fmt.Errorf("ACCEPT (launch task %s): %w", spec.TaskID, err)
	}
	f.cfg.Logf("launch: task %s on agent %s, ports %v", spec.TaskID, m.AgentID.Value, m.Ports)
	return Launched{At: at, Task: task, Match: m}, nil
}

// Revive asks the master for new offers (after declines or filters).
func (f *Framework) Revive(ctx context.Context) error {
	return calls.CallNoData(ctx, f.caller, calls.Revive().With(calls.Framework(f.ID())))
}

// Kill sends KILL for the task and returns when it was sent.
func (f *Framework) Kill(ctx context.Context, taskID, agentID string) (time.Time, error) {
	at := time.Now()
	if err := calls.CallNoData(ctx, f.caller, calls.Kill(taskID, agentID).With(calls.Framework(f.ID()))); err != nil {
		return at, fmt.Errorf("KILL task %s: %w", taskID, err)
	}
	f.cfg.Logf("kill: task %s", taskID)
	return at, nil
}

// Updates returns the task's updates so far.
func (f *Framework) Updates(taskID string) []Update {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.updates[taskID])
}

// Failures returns the FAILURE events so far.
func (f *Framework) Failures() []Failure {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.failures)
}

// UnexpectedError is a task reaching a terminal state that was not waited
// for.
type UnexpectedError struct{ Update Update }

func (e *UnexpectedError) Error() string {
	st := e.Update.Status
	return fmt.Sprintf("task %s: %s (source %s, reason %s): %q",
		st.TaskID.Value, st.GetState(), st.GetSource(), st.GetReason(), st.GetMessage())
}

// WaitState waits for the task's first update in one of the states. A
// terminal update in another state first is an *UnexpectedError.
func (f *Framework) WaitState(ctx context.Context, taskID string, states ...mesos.TaskState) (Update, error) {
	var found Update
	_, err := f.wait(ctx, func() (bool, error) {
		for _, u := range f.updates[taskID] {
			if slices.Contains(states, u.Status.GetState()) {
				found = u
				return true, nil
			}
			if Terminal(u.Status.GetState()) {
				return false, &UnexpectedError{Update: u}
			}
		}
		return false, nil
	})
	if err != nil && !errors.As(err, new(*UnexpectedError)) {
		err = fmt.Errorf("waiting for task %s to be %v: %w", taskID, states, err)
	}
	return found, err
}

// Terminal reports whether a task state is final.
func Terminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR,
		mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE, mesos.TASK_GONE_BY_OPERATOR:
		return true
	}
	return false
}

// Close tears the framework down (the master kills its tasks and shuts its
// executors down) and ends the event stream.
func (f *Framework) Close(ctx context.Context) error {
	var err error
	if id := f.ID(); id != "" {
		err = calls.CallNoData(ctx, f.caller, &scheduler.Call{Type: scheduler.Call_TEARDOWN, FrameworkID: &mesos.FrameworkID{Value: id}})
	}
	f.cancel()
	select {
	case <-f.done:
	case <-ctx.Done():
	}
	return err
}

// reason is the update's reason, "-" when it has none (GetReason would
// say REASON_COMMAND_EXECUTOR_FAILED, the enum's zero).
func reason(st mesos.TaskStatus) string {
	if st.Reason == nil {
		return "-"
	}
	return st.Reason.String()
}
