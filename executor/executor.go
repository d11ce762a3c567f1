// Package executor is compod's Mesos custom executor: it speaks the v1
// executor HTTP API to the agent (subscribe, events, status updates,
// acknowledgements, recovery after an agent restart) and runs each task it is
// given as one compose pod through the runtime package. Mesos stays in this
// package; the pod engine knows nothing about it.
package executor

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

// Engine is what the executor needs of the pod engine; *runtime.Engine
// implements it.
type Engine interface {
	Up(ctx context.Context, plan *translate.PodPlan, opts runtime.UpOptions) (*runtime.PodRecord, error)
	Watch(ctx context.Context, pod string) (<-chan runtime.PodState, error)
	Stop(ctx context.Context, pod string, opts runtime.DownOptions) error
	Down(ctx context.Context, pod string, opts runtime.DownOptions) error
}

// LoadRequest asks the compose loader for a pod plan.
type LoadRequest struct {
	// Files are absolute paths of the compose files, in order.
	Files []string
	// Project is the pod name.
	Project string
	// WorkingDir is the sandbox: relative paths in the files resolve there.
	WorkingDir string
}

// Loader turns compose files into a pod plan (translate.Load, wired by the
// command). The executor runs the plugins on the plan it returns.
type Loader func(ctx context.Context, req LoadRequest) (*translate.PodPlan, error)

// Options configure an executor.
type Options struct {
	Env    Env
	Engine Engine
	// EngineErr, when set, says why there is no engine (containerd is
	// unreachable, ...): the executor still subscribes, and fails every
	// task with this reason instead of leaving the agent to time out.
	EngineErr error
	Load      Loader
	// CgroupParent is the executor's Mesos container cgroup (see
	// cgroups.MesosParent) that the engine creates pods beneath; "" means
	// the agent does not isolate with cgroups, so the executor bounds each
	// pod with the task's cpus and mem itself.
	CgroupParent string
	// Pull is the image pull policy ("" = missing).
	Pull string
	// PluginOrder is the default plugin order (the task label
	// `pluginorder` overrides it).
	PluginOrder []string
	// PluginDir holds the operator's out-of-process plugins (config
	// plugins.dir); "" means built-in plugins only.
	PluginDir string
	// PluginTimeout bounds each call of a plugin hook (config
	// plugins.timeout); zero means plugin.DefaultTimeout.
	PluginTimeout time.Duration
	// Policy is the operator's admission policy (the config file's
	// policy:), laid over translate.DefaultExecutorPolicy; nil means the
	// default alone. Every pod is judged after the plugins' PreLaunch and
	// before anything is created.
	Policy *translate.Policy
	// LaunchTimeout bounds a pod's launch; zero means no bound.
	LaunchTimeout time.Duration
	// TerminalAckTimeout is how long to wait for the agent to acknowledge
	// the last terminal update before exiting anyway.
	TerminalAckTimeout time.Duration
	Log                *slog.Logger
}

// Executor is one run of compod as a Mesos executor.
type Executor struct {
	o     Options
	log   *slog.Logger
	agent *agentConn
	store *updateStore

	mu         sync.Mutex
	tasks      map[string]*task
	launched   bool
	shutdown   bool
	subscribed bool
	exiting    bool
	kick       chan struct{} // wakes the status update sender
	doneC      chan struct{} // closed when the executor is to exit
	offline    chan struct{} // closed when the executor stops talking to the agent
	wg         sync.WaitGroup
}

// New checks the options and prepares an executor.
func New(o Options) (*Executor, error) {
	if (o.Engine == nil && o.EngineErr == nil) || o.Load == nil {
		return nil, errors.New("executor: Engine (or EngineErr) and Load are required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.TerminalAckTimeout <= 0 {
		o.TerminalAckTimeout = DefaultTerminalAckTimeout
	}
	if o.Env.ShutdownGracePeriod <= 0 {
		o.Env.ShutdownGracePeriod = DefaultShutdownGracePeriod
	}
	x := &Executor{
		o:       o,
		log:     o.Log.With("executor", o.Env.ExecutorID),
		store:   newUpdateStore(),
		tasks:   map[string]*task{},
		kick:    make(chan struct{}, 1),
		doneC:   make(chan struct{}),
		offline: make(chan struct{}),
	}
	x.agent = newAgentConn(o.Env, x.log)
	return x, nil
}

// Run subscribes to the agent and serves it until the executor's work is
// done: every task has ended and its terminal update was acknowledged (or
// TerminalAckTimeout passed), SHUTDOWN was served, or the agent was lost for
// good. Pods still running then are stopped and removed. Cancelling ctx
// (SIGTERM) stops every pod and returns.
func (x *Executor) Run(ctx context.Context) error {
	x.log.Info("compod executor starting", "agent", x.o.Env.AgentEndpoint, "framework", x.o.Env.FrameworkID,
		"checkpoint", x.o.Env.Checkpoint, "sandbox", x.o.Env.Sandbox, "cgroupParent", x.o.CgroupParent)
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		x.sendLoop()
	}()
	err := x.connectLoop(ctx)
	close(x.offline) // no acknowledgement can arrive any more
	x.finish(err)
	x.shutdownPlugins()
	return err
}

// finish stops whatever still runs and waits for the task goroutines.
func (x *Executor) finish(cause error) {
	x.mu.Lock()
	x.exiting = true
	active := x.activeTasksLocked()
	x.mu.Unlock()
	if len(active) > 0 {
		msg := "compod executor is exiting"
		if cause != nil {
			msg += ": " + cause.Error()
		}
		budget := stopBudget(x.o.Env.ShutdownGracePeriod)
		stopBy := time.Now().Add(budget)
		for _, t := range active {
			t.kill(killRequest{grace: &budget, deadline: stopBy, state: mesos.TASK_FAILED, reason: mesos.REASON_EXECUTOR_TERMINATED.Enum(), message: msg})
		}
	}
	x.wg.Wait()
	x.log.Info("compod executor exiting", "err", cause)
}

// stopBudget is how long services may take to stop when the whole executor
// must be gone within grace: what is left after removing the pod (which
// frees its host ports and IP for the next task) and reporting, which take
// about half a second on a loaded 2-core host.
func stopBudget(grace time.Duration) time.Duration {
	reserve := min(max(grace/2, 500*time.Millisecond), 2*time.Second)
	return max(grace-reserve, 0)
}

func (x *Executor) activeTasksLocked() []*task {
	var out []*task
	for _, t := range x.tasks {
		if !t.isTerminal() {
			out = append(out, t)
		}
	}
	return out
}

// done is closed when the executor should exit.
func (x *Executor) done() <-chan struct{} { return x.doneC }

func (x *Executor) exitNow(why string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	select {
	case <-x.doneC:
	default:
		x.log.Info("executor done", "why", why)
		close(x.doneC)
	}
}

// taskEnded is called by a task after its terminal update: once no task is
// left, the executor waits (bounded) for the agent's acknowledgements and
// exits.
func (x *Executor) taskEnded() {
	x.mu.Lock()
	active := len(x.activeTasksLocked())
	shutdown := x.shutdown
	x.mu.Unlock()
	if active > 0 || shutdown {
		return // SHUTDOWN has its own, shorter, wait
	}
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		x.waitAcked(time.Now().Add(x.o.TerminalAckTimeout))
		x.mu.Lock()
		active := len(x.activeTasksLocked())
		x.mu.Unlock()
		if active == 0 {
			x.exitNow("every task has ended")
		}
	}()
}

// waitAcked waits until every update is acknowledged or deadline passes.
func (x *Executor) waitAcked(deadline time.Time) bool {
	for {
		empty, changed := x.store.empty()
		if empty {
			return true
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			ups, _ := x.store.pending()
			x.log.Warn("exiting with unacknowledged status updates", "count", len(ups))
			return false
		}
		t := time.NewTimer(wait)
		select {
		case <-changed:
		case <-t.C:
		case <-x.doneC:
			t.Stop()
			return false
		case <-x.offline:
			t.Stop()
			return false
		}
		t.Stop()
	}
}

// sendUpdate records a status update as unacknowledged and wakes the
// sender, which delivers it while subscribed; otherwise it goes out with the
// next SUBSCRIBE.
func (x *Executor) sendUpdate(st mesos.TaskStatus) {
	src := mesos.SOURCE_EXECUTOR
	st.Source = &src
	st.UUID = newUUID()
	st.ExecutorID = &mesos.ExecutorID{Value: x.o.Env.ExecutorID}
	ts := float64(time.Now().UnixNano()) / 1e9
	st.Timestamp = &ts
	x.store.add(callUpdate(st))
	log := x.log.With("task", st.TaskID.Value, "state", st.State.String())
	if st.Message != nil {
		log = log.With("message", *st.Message)
	}
	if st.Reason != nil {
		log = log.With("reason", st.Reason.String())
	}
	log.Info("status update")
	x.kickSender()
}

func (x *Executor) kickSender() {
	select {
	case x.kick <- struct{}{}:
	default:
	}
}

// Status update delivery. The agent answers an UPDATE with 202 once it has
// taken the update; a recovering agent answers 503 until its recovery ends,
// and a connection may break: such an update is retried (in order: the
// agent's status update manager wants a task's updates in sequence) with a
// short backoff while subscribed. An update taken but not acknowledged is
// resent every updateResendInterval (the agent drops duplicates by uuid),
// as Mesos' own executors retry status updates.
const (
	updateRetryMin = 100 * time.Millisecond
	updateRetryMax = time.Second
)

// updateResendInterval is a variable for tests.
var updateResendInterval = 10 * time.Second

// sendLoop delivers the stored updates until the executor goes offline.
func (x *Executor) sendLoop() {
	retry := updateRetryMin
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := time.Duration(-1)
		x.mu.Lock()
		subscribed := x.subscribed
		x.mu.Unlock()
		if subscribed {
			u, ok, due := x.store.next(time.Now(), updateResendInterval)
			switch {
			case ok:
				st := u.Status
				err := x.agent.update(st)
				log := x.log.With("task", st.TaskID.Value, "state", st.State.String())
				if err != nil {
					log.Warn("sending status update failed; retrying", "err", err, "in", retry)
					wait = retry
					retry = min(2*retry, updateRetryMax)
					break
				}
				x.store.markSent(time.Now(), u)
				retry = updateRetryMin
				log.Debug("status update sent")
				continue
			case !due.IsZero():
				wait = max(time.Until(due), 0)
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		var tc <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-x.kick:
		case <-tc:
		case <-x.offline:
			return
		}
	}
}

func (x *Executor) setSubscribed(v bool) {
	x.mu.Lock()
	x.subscribed = v
	x.mu.Unlock()
	if v {
		x.kickSender()
	}
}
