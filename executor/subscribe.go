package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
)

// callTimeout bounds connecting and waiting for the agent's answer to a
// call (and for the headers of the subscription's response).
const callTimeout = 5 * time.Second

// Backoff between subscription attempts: doubling from backoffMin, each wait
// capped at half of MESOS_SUBSCRIPTION_BACKOFF_MAX. That value is the
// agent's --executor_reregistration_timeout: a restarted agent destroys an
// executor that has not re-subscribed within it, so the executor must try
// at least twice inside that window.
const backoffMin = 100 * time.Millisecond

// noCheckpointRetry is how long the first subscription is retried when the
// framework does not checkpoint (the agent may be slow to accept it).
const noCheckpointRetry = 10 * time.Second

// agentConn sends calls to the agent's executor API: the subscription on
// its own connection, every other call on another.
type agentConn struct {
	env   Env
	log   *slog.Logger
	sub   calls.Sender
	calls calls.Sender
}

func newAgentConn(env Env, log *slog.Logger) *agentConn {
	mk := func() calls.Sender {
		opts := []httpcli.Opt{
			httpcli.Endpoint("http://" + env.AgentEndpoint + "/api/v1/executor"),
			httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
			// Each client has its own transport, so the subscription and
			// the calls never share a connection.
			httpcli.Do(httpcli.With(httpcli.Timeout(callTimeout))),
		}
		if env.AuthToken != "" {
			opts = append(opts, httpcli.DefaultHeader("Authorization", "Bearer "+env.AuthToken))
		}
		return httpexec.NewSender(httpcli.New(opts...).Send)
	}
	return &agentConn{env: env, log: log, sub: mk(), calls: mk()}
}

func (a *agentConn) call(c *executor.Call) *executor.Call {
	return c.With(calls.Framework(a.env.FrameworkID), calls.Executor(a.env.ExecutorID))
}

func callUpdate(st mesos.TaskStatus) executor.Call_Update { return executor.Call_Update{Status: st} }

// update POSTs one status update (202 expected).
func (a *agentConn) update(st mesos.TaskStatus) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*callTimeout)
	defer cancel()
	resp, err := a.calls.Send(ctx, calls.NonStreaming(a.call(calls.Update(st))))
	if resp != nil {
		resp.Close()
	}
	return err
}

// subscribe opens the event stream.
func (a *agentConn) subscribe(ctx context.Context, ups []executor.Call_Update, tasks []mesos.TaskInfo) (mesos.Response, error) {
	return a.sub.Send(ctx, calls.NonStreaming(a.call(calls.Subscribe(tasks, ups))))
}

// errAgentGone says the agent could not be reached for long enough that the
// executor gives up.
var errAgentGone = errors.New("agent unreachable")

// connectLoop subscribes, serves the event stream, and on a disconnection
// either resubscribes with backoff (checkpointing: for up to
// MESOS_RECOVERY_TIMEOUT, while the pods keep running) or gives up
// (no checkpointing). It returns nil when the executor's work is done.
func (x *Executor) connectLoop(ctx context.Context) error {
	env := x.o.Env
	retryFor := env.RecoveryTimeout
	if !env.Checkpoint {
		retryFor = noCheckpointRetry
	}
	backoffMax := env.SubscriptionBackoffMax
	if backoffMax <= 0 {
		backoffMax = DefaultSubscriptionBackoffMax
	}
	everSubscribed := false
	disconnectedAt := time.Now()
	backoff := backoffMin
	for attempt := 1; ; attempt++ {
		subscribed, err := x.serve(ctx)
		select {
		case <-x.done():
			return nil
		default:
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if subscribed {
			everSubscribed = true
			disconnectedAt = time.Now()
			backoff = backoffMin
			attempt = 1
			x.log.Warn("disconnected from the agent", "err", err)
		} else {
			x.log.Warn("subscribing to the agent failed", "attempt", attempt, "err", err)
		}
		if everSubscribed && !env.Checkpoint {
			return fmt.Errorf("disconnected from the agent and the framework does not checkpoint: %w", err)
		}
		if time.Since(disconnectedAt) >= retryFor {
			return fmt.Errorf("%w for %v (recovery timeout): %v", errAgentGone, retryFor.Round(time.Millisecond), err)
		}
		// Jitter within [backoff/2, backoff], never past the bound.
		wait := min(backoff/2+rand.N(backoff/2+1), backoffMax/2, time.Until(disconnectedAt.Add(retryFor)))
		backoff = min(2*backoff, backoffMax/2)
		t := time.NewTimer(max(wait, 0))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-x.done():
			t.Stop()
			return nil
		}
	}
}

// serve runs one subscription: SUBSCRIBE with the unacknowledged updates and
// tasks, then the events until the stream breaks or the executor is done.
// It reports whether the agent accepted the subscription.
func (x *Executor) serve(ctx context.Context) (subscribed bool, err error) {
	ups, tasks := x.store.pending()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := x.agent.subscribe(sctx, ups, tasks)
	if err != nil {
		if resp != nil {
			resp.Close()
		}
		return false, err
	}
	defer resp.Close()
	// Close the stream when the executor is done, to unblock Decode.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-x.done():
		case <-stop:
		}
		cancel()
		resp.Close()
	}()
	defer x.setSubscribed(false)
	for {
		var ev executor.Event
		if err := resp.Decode(&ev); err != nil {
			if !subscribed && errors.Is(err, io.EOF) {
				err = errors.New("the agent closed the subscription before SUBSCRIBED")
			}
			return subscribed, err
		}
		if ev.Type == executor.Event_SUBSCRIBED {
			if subscribed {
				x.log.Warn("SUBSCRIBED again on the same stream; ignored")
				continue
			}
			subscribed = true
			x.subscribed1(ev.Subscribed, ups)
			continue
		}
		if !subscribed {
			return false, fmt.Errorf("first event was %v, not SUBSCRIBED", ev.Type)
		}
		if err := x.handle(&ev); err != nil {
			return true, err
		}
	}
}

// subscribed1 handles SUBSCRIBED: the updates the SUBSCRIBE carried count
// as delivered; those produced while it was on its way go out now.
func (x *Executor) subscribed1(s *executor.Event_Subscribed, sent []executor.Call_Update) {
	attrs := []any{"resent_updates", len(sent)}
	if s != nil {
		attrs = append(attrs, "agent", s.AgentInfo.GetHostname(), "framework", s.FrameworkInfo.GetName())
		if s.ContainerID != nil {
			attrs = append(attrs, "container", s.ContainerID.Value)
		}
	}
	x.log.Info("subscribed to the agent", attrs...)
	x.store.markSent(time.Now(), sent...)
	x.setSubscribed(true)
}

// handle dispatches one event. Nothing here blocks for long: pod work runs
// in the tasks' goroutines. An error ends the subscription (to resubscribe).
func (x *Executor) handle(ev *executor.Event) error {
	switch ev.Type {
	case executor.Event_LAUNCH:
		x.launch(ev.GetLaunch().GetTask())
	case executor.Event_LAUNCH_GROUP:
		x.refuseGroup(ev.GetLaunchGroup().GetTaskGroup())
	case executor.Event_KILL:
		k := ev.GetKill()
		var grace *time.Duration
		if kp := k.GetKillPolicy(); kp != nil && kp.GracePeriod != nil {
			d := time.Duration(kp.GracePeriod.Nanoseconds)
			grace = &d
		}
		x.killTask(k.TaskID.Value, grace)
	case executor.Event_ACKNOWLEDGED:
		a := ev.GetAcknowledged()
		if x.store.ack(a.TaskID.Value, a.UUID) {
			x.log.Debug("status update acknowledged", "task", a.TaskID.Value)
		}
	case executor.Event_MESSAGE:
		x.log.Info("message from the framework", "bytes", len(ev.GetMessage().GetData()), "data", truncate(string(ev.GetMessage().GetData()), 200))
	case executor.Event_SHUTDOWN:
		x.shutdownAll()
	case executor.Event_ERROR:
		return fmt.Errorf("agent sent ERROR: %s", ev.GetError().GetMessage())
	case executor.Event_HEARTBEAT:
		// Only keeps the connection alive; nothing to do.
	default:
		x.log.Warn("ignoring unknown event", "type", ev.Type.String())
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
