// Package agentsim emulates the executor-facing side of a Mesos agent: it
// launches a custom executor the way the agent does (sandbox, environment,
// cgroups) and serves the v1 executor HTTP API (POST /api/v1/executor) with
// the agent's status codes, event stream, acknowledgements, heartbeats,
// shutdown grace period and recovery after an agent restart.
//
// It follows Apache Mesos' docs/executor-http-api.md and
// docs/agent-recovery.md and the agent's behaviour in src/slave/http.cpp
// (Http::executor) and src/slave/slave.cpp (subscribe, statusUpdate,
// shutdownExecutor, reregisterExecutorTimeout, executorTerminated). It is a
// test and development tool: there is no master or scheduler; the test plays
// the framework through Agent and Executor.
package agentsim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
)

// Defaults are the Mesos agent's flag defaults, except HeartbeatInterval
// (the agent's DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL is 30 minutes; 30 seconds
// makes heartbeats show up in tests and dev runs).
const (
	DefaultRecoveryTimeout        = 15 * time.Minute // --recovery_timeout
	DefaultSubscriptionBackoffMax = 2 * time.Second  // --executor_reregistration_timeout
	DefaultShutdownGracePeriod    = 5 * time.Second  // --executor_shutdown_grace_period
	DefaultRegistrationTimeout    = time.Minute      // --executor_registration_timeout
	DefaultHeartbeatInterval      = 30 * time.Second
	DefaultCgroupRoot             = "/sys/fs/cgroup"
)

// Config configures an emulated agent.
type Config struct {
	// WorkDir holds the sandboxes:
	// WorkDir/slaves/<agent-id>/frameworks/<fw>/executors/<eid>/runs/<container-id>.
	WorkDir string
	// Checkpoint is the framework's checkpoint flag (MESOS_CHECKPOINT). With
	// it the agent waits for executors to re-subscribe after a restart;
	// without it a restarted agent forgets its executors and destroys them.
	Checkpoint bool
	// Agent flags, passed to the executor as Mesos formats durations
	// ("15mins", "2secs", "5secs"). SubscriptionBackoffMax is also the
	// agent's re-registration window after a restart
	// (--executor_reregistration_timeout). ExecutorInfo.shutdown_grace_period
	// overrides ShutdownGracePeriod, as on a real agent.
	RecoveryTimeout, SubscriptionBackoffMax, ShutdownGracePeriod time.Duration
	// RegistrationTimeout: an executor that has not subscribed this long
	// after launch is destroyed (--executor_registration_timeout).
	RegistrationTimeout time.Duration
	// HeartbeatInterval between HEARTBEAT events on a subscription.
	HeartbeatInterval time.Duration
	// CgroupRoot is where cgroup hierarchies are mounted (DefaultCgroupRoot
	// on most hosts). With cgroup v1 the executor is placed in
	// <root>/<ctrl>/mesos/<container-id> for cpu, memory and freezer (like
	// --isolation=cgroups/cpu,cgroups/mem); with cgroup v2 in
	// <root>/mesos/<container-id>/leaf. "" disables cgroup placement.
	CgroupRoot string
	// EnableCFS also sets a CFS quota from cpus (--cgroups_enable_cfs).
	EnableCFS bool
	// Namespaces the executor's container gets, as the Mesos linux
	// launcher makes them for the isolators operators enable (see
	// Namespaces). The zero value is the posix/cgroups-only launch: the
	// executor shares every namespace with the agent.
	Namespaces Namespaces
	// AgentID defaults to a random "<uuid>-S0"; Hostname to os.Hostname.
	AgentID, Hostname string
	Logger            *slog.Logger
}

type agentState int

const (
	agentRunning agentState = iota
	agentDown
	agentRecovering
)

type execKey struct{ fw, eid string }

// Agent is an emulated Mesos agent.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	agentID string
	addr    string
	// listenAddr is what the agent listens on: addr, or all addresses when
	// executors get network namespaces of their own (they reach the agent
	// through their veth, at netnsEndpoint).
	listenAddr string
	ctx        context.Context
	cancel     context.CancelFunc

	mu        sync.Mutex
	state     agentState
	recovered chan struct{} // closed while the agent is not recovering/down
	srv       *http.Server
	execs     map[execKey]*Executor
	all       []*Executor
	withhold  bool
	ackDelay  time.Duration
	closed    bool
	wg        sync.WaitGroup
}

// Start listens on 127.0.0.1:<free port> and serves POST /api/v1/executor
// until ctx is done or Close is called.
func Start(ctx context.Context, cfg Config) (*Agent, error) {
	if cfg.WorkDir == "" {
		return nil, errors.New("agentsim: Config.WorkDir is required")
	}
	if cfg.RecoveryTimeout <= 0 {
		cfg.RecoveryTimeout = DefaultRecoveryTimeout
	}
	if cfg.SubscriptionBackoffMax <= 0 {
		cfg.SubscriptionBackoffMax = DefaultSubscriptionBackoffMax
	}
	if cfg.ShutdownGracePeriod <= 0 {
		cfg.ShutdownGracePeriod = DefaultShutdownGracePeriod
	}
	if cfg.RegistrationTimeout <= 0 {
		cfg.RegistrationTimeout = DefaultRegistrationTimeout
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.AgentID == "" {
		cfg.AgentID = newUUID() + "-S0"
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
		if cfg.Hostname == "" {
			cfg.Hostname = "localhost"
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host := "127.0.0.1"
	if cfg.Namespaces.Net {
		host = "0.0.0.0"
	}
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	actx, cancel := context.WithCancel(ctx)
	a := &Agent{
		cfg:        cfg,
		log:        log.With("agent", cfg.AgentID),
		agentID:    cfg.AgentID,
		addr:       net.JoinHostPort("127.0.0.1", port),
		listenAddr: ln.Addr().String(),
		ctx:        actx,
		cancel:     cancel,
		recovered:  make(chan struct{}),
		execs:      map[execKey]*Executor{},
	}
	close(a.recovered)
	a.serve(ln)
	go func() {
		<-actx.Done()
		a.Close()
	}()
	return a, nil
}

func (a *Agent) serve(ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/executor", a.handleExecutor)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	a.srv = srv
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		_ = srv.Serve(ln)
	}()
}

// Endpoint is the agent's "127.0.0.1:NNNN" (MESOS_AGENT_ENDPOINT).
func (a *Agent) Endpoint() string { return a.addr }

// ID is the agent's id (MESOS_SLAVE_ID).
func (a *Agent) ID() string { return a.agentID }

// Close stops serving and destroys every executor still running (SIGKILL
// to its cgroup or session), removing their cgroups.
func (a *Agent) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	srv := a.srv
	var live []*Executor
	for _, e := range a.all {
		e.closeStream()
		if e.state != execTerminated && e.cmd != nil {
			live = append(live, e)
		}
	}
	a.mu.Unlock()
	a.cancel()
	if srv != nil {
		_ = srv.Close()
	}
	for _, e := range live {
		e.destroy("agent closed")
	}
	for _, e := range a.all {
		if e.cmd != nil {
			<-e.exited
		}
	}
	a.wg.Wait()
	return nil
}

// WithholdAcks makes the agent drop the ACKNOWLEDGED events it would send
// for status updates (as if it crashed after receiving them): the executor
// keeps them unacknowledged and must resend them when it re-subscribes.
// Turning it off does not send the dropped acknowledgements.
func (a *Agent) WithholdAcks(on bool) {
	a.mu.Lock()
	a.withhold = on
	a.mu.Unlock()
}

// SetAckDelay delays every ACKNOWLEDGED event by d (0: immediate). An
// acknowledgement due while the executor is disconnected is lost.
func (a *Agent) SetAckDelay(d time.Duration) {
	a.mu.Lock()
	a.ackDelay = d
	a.mu.Unlock()
}

// waitRecovered blocks while the agent is down or recovering: a master
// cannot reach an agent that has not finished recovery, so LAUNCH, KILL and
// MESSAGE wait for it.
func (a *Agent) waitRecovered(ctx context.Context) error {
	for {
		a.mu.Lock()
		ch := a.recovered
		a.mu.Unlock()
		select {
		case <-ch:
			a.mu.Lock()
			same := ch == a.recovered
			a.mu.Unlock()
			if same {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-a.ctx.Done():
			return errors.New("agentsim: agent closed")
		}
	}
}

// Restart emulates an agent restart: every open subscription is dropped
// and connections are refused (the listener is closed) for down; then the
// agent listens again on the same port and recovers.
//
// With Config.Checkpoint the recovering agent waits
// SubscriptionBackoffMax (--executor_reregistration_timeout) for its
// executors to re-subscribe; a re-SUBSCRIBE's unacknowledged updates are
// processed (recorded with Resent set, and acknowledged) and its
// unacknowledged tasks compared with the tasks sent; an executor that does
// not re-subscribe in time is destroyed and its tasks become TASK_LOST
// (TASK_GONE for PARTITION_AWARE frameworks) with
// REASON_EXECUTOR_REREGISTRATION_TIMEOUT. Until that window ends the agent
// is "recovering": non-SUBSCRIBE calls get 503, and Launch/Kill/Message
// wait.
//
// Without checkpointing the agent recovers nothing: it forgets its
// executors (their calls get 400 "Framework cannot be found"), destroys any
// executor process still alive when it comes back (Forced, an orphan
// container) and their live tasks become TASK_LOST/TASK_GONE with
// REASON_SLAVE_RESTARTED.
//
// Restart returns once the agent listens again.
func (a *Agent) Restart(ctx context.Context, down time.Duration) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return errors.New("agentsim: agent closed")
	}
	a.state = agentDown
	a.recovered = make(chan struct{})
	srv := a.srv
	a.srv = nil
	for _, e := range a.execs {
		e.closeStream()
		if e.state == execRunning {
			e.state = execRegistering
		}
	}
	a.mu.Unlock()
	a.log.Info("agent going down", "for", down)
	_ = srv.Close() // closes the listener and every open connection

	select {
	case <-time.After(down):
	case <-ctx.Done():
	case <-a.ctx.Done():
		return errors.New("agentsim: agent closed")
	}

	var ln net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if ln, err = net.Listen("tcp", a.listenAddr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("agentsim: listen again on %s: %w", a.addr, err)
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	a.serve(ln)
	if !a.cfg.Checkpoint {
		// Nothing was checkpointed: the agent does not know the framework
		// or its executors any more; orphan containers are destroyed.
		for k, e := range a.execs {
			delete(a.execs, k)
			if e.state == execTerminated {
				continue
			}
			e.pendingTermination = &termination{
				state:   lostState(e.fw),
				reason:  mesos.REASON_AGENT_RESTARTED,
				message: "Agent restarted and the framework does not checkpoint",
				source:  mesos.SOURCE_MASTER,
			}
			e.state = execTerminating
			go e.destroy("orphan container after agent restart without checkpointing")
		}
		a.state = agentRunning
		close(a.recovered)
		a.log.Info("agent back (no checkpointing: executors forgotten)")
		return nil
	}
	a.state = agentRecovering
	rec := a.recovered
	a.log.Info("agent back, recovering", "reregistration_timeout", a.cfg.SubscriptionBackoffMax)
	time.AfterFunc(a.cfg.SubscriptionBackoffMax, func() { a.reregisterTimeout(rec) })
	return nil
}

// reregisterTimeout ends recovery: executors that did not re-subscribe are
// destroyed (Slave::reregisterExecutorTimeout).
func (a *Agent) reregisterTimeout(rec chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.recovered != rec || a.state != agentRecovering {
		return
	}
	for _, e := range a.execs {
		if e.state != execRegistering {
			continue
		}
		e.pendingTermination = &termination{
			state:   lostState(e.fw),
			reason:  mesos.REASON_EXECUTOR_REREGISTRATION_TIMEOUT,
			message: "Executor did not reregister within " + mesosDuration(a.cfg.SubscriptionBackoffMax),
			source:  mesos.SOURCE_AGENT,
		}
		e.state = execTerminating
		a.log.Info("killing un-reregistered executor", "executor", e.id)
		go e.destroy("did not re-subscribe within the agent's re-registration window")
	}
	a.state = agentRunning
	close(a.recovered)
}

func lostState(fw mesos.FrameworkInfo) mesos.TaskState {
	for _, c := range fw.Capabilities {
		if c.Type == mesos.FrameworkInfo_Capability_PARTITION_AWARE {
			return mesos.TASK_GONE
		}
	}
	return mesos.TASK_LOST
}

// ack sends ACKNOWLEDGED for an update the agent has handled (after its
// status update manager checkpointed it), honouring WithholdAcks and
// SetAckDelay. Called with a.mu held.
func (a *Agent) ack(e *Executor, taskID mesos.TaskID, uuid []byte) {
	if a.withhold {
		a.log.Info("withholding acknowledgement", "task", taskID.Value, "uuid", hex.EncodeToString(uuid))
		return
	}
	ev := &executor.Event{
		Type:         executor.Event_ACKNOWLEDGED,
		Acknowledged: &executor.Event_Acknowledged{TaskID: taskID, UUID: uuid},
	}
	send := func() {
		if e.send(ev) {
			e.acked[string(uuid)] = true
			e.notify()
		}
	}
	if a.ackDelay <= 0 {
		send()
		return
	}
	time.AfterFunc(a.ackDelay, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		send()
	})
}

func newUUID() string {
	b := uuidBytes()
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func uuidBytes() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return b
}
