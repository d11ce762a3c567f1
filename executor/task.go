package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/plugin"
	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

// downTimeout bounds removing a pod whose services have already stopped.
const downTimeout = 10 * time.Second

// killRequest asks a task to stop its pod and report a terminal state.
type killRequest struct {
	// grace replaces the services' stop_grace_period when set.
	grace *time.Duration
	// deadline, when set, is when every service must have been killed
	// (SHUTDOWN: the executor must be gone within the agent's grace).
	deadline time.Time
	state    mesos.TaskState
	reason   *mesos.TaskStatus_Reason
	message  string
}

// task is one Mesos task: one pod.
type task struct {
	x    *Executor
	info mesos.TaskInfo
	id   string
	pod  string
	log  *slog.Logger

	killC chan struct{} // closed by the first kill
	done  chan struct{} // closed when the task's goroutine has ended

	mu       sync.Mutex
	killReq  *killRequest
	terminal bool
	plan     *translate.PodPlan
	// plugins are the task's plugins, set once their PreLaunch ran.
	plugins plugin.Chain
	// overrides are the task's own settings (labels compod.pull, ...).
	overrides TaskOverrides
	// labels and netinfo go on every TASK_RUNNING.
	labels  []mesos.Label
	netinfo []mesos.NetworkInfo

	// pullSent is when the last pull progress went out (pullProgress).
	pullMu   sync.Mutex
	pullSent time.Time
}

// pullProgressEvery bounds how often pull progress becomes a
// TASK_STARTING update: a framework's UI shows why the task is still
// starting without the agent being flooded.
const pullProgressEvery = 2 * time.Second

// pullProgress sends a pull's progress as a TASK_STARTING update, at most
// one every pullProgressEvery across the task's pulls (which run in
// parallel); updates in between are dropped, the next one says where the
// pulls stand then. The end of each pull (its size and time, or its
// error) always goes out.
func (t *task) pullProgress(p runtime.PullProgress) {
	t.pullMu.Lock()
	end := p.Done || p.Err != nil
	if !end && !t.pullSent.IsZero() && time.Since(t.pullSent) < pullProgressEvery {
		t.pullMu.Unlock()
		return
	}
	t.pullSent = time.Now()
	t.pullMu.Unlock()
	t.send(mesos.TASK_STARTING, nil, "compod: "+p.String(), nil)
}

func (t *task) isTerminal() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.terminal
}

// kill asks the task to stop; only the first request counts.
func (t *task) kill(k killRequest) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.killReq != nil || t.terminal {
		return
	}
	t.killReq = &k
	close(t.killC)
}

func (t *task) killRequest() *killRequest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.killReq
}

// launch handles LAUNCH: the task runs in its own goroutine.
func (x *Executor) launch(info mesos.TaskInfo) {
	id := info.TaskID.Value
	x.store.addTask(info)
	x.mu.Lock()
	if _, dup := x.tasks[id]; dup {
		x.mu.Unlock()
		x.log.Warn("ignoring a second LAUNCH of a task", "task", id)
		return
	}
	t := &task{x: x, info: info, id: id, pod: PodName(x.o.Env.FrameworkID, id),
		killC: make(chan struct{}), done: make(chan struct{})}
	t.log = x.log.With("task", id, "pod", t.pod)
	x.tasks[id] = t
	x.launched = true
	refuse := ""
	reason := mesos.REASON_EXECUTOR_TERMINATED
	switch {
	case x.shutdown || x.exiting:
		refuse = "the compod executor is shutting down; launch the task again"
	case x.o.EngineErr != nil:
		refuse = "compod cannot run pods on this agent: " + x.o.EngineErr.Error()
		reason = mesos.REASON_CONTAINER_LAUNCH_FAILED
	}
	x.wg.Add(1)
	x.mu.Unlock()
	if refuse != "" {
		go func() {
			defer x.wg.Done()
			defer close(t.done)
			t.send(mesos.TASK_STARTING, nil, "", nil)
			t.end(mesos.TASK_FAILED, reason.Enum(), refuse, nil)
		}()
		return
	}
	go func() {
		defer x.wg.Done()
		defer close(t.done)
		t.run()
	}()
}

// refuseGroup handles LAUNCH_GROUP: compod runs one compose pod per task.
func (x *Executor) refuseGroup(g mesos.TaskGroupInfo) {
	for _, info := range g.Tasks {
		x.store.addTask(info)
		t := &task{x: x, info: info, id: info.TaskID.Value, killC: make(chan struct{}), done: make(chan struct{})}
		t.log = x.log.With("task", t.id)
		x.mu.Lock()
		if _, dup := x.tasks[t.id]; dup {
			x.mu.Unlock()
			continue
		}
		x.tasks[t.id] = t
		x.launched = true
		x.mu.Unlock()
		t.end(mesos.TASK_FAILED, mesos.REASON_TASK_GROUP_INVALID.Enum(),
			"compod runs one compose pod per task and does not accept task groups (LAUNCH_GROUP, Mesos pods): launch each task with its own compose files instead", nil)
		close(t.done)
	}
}

// killTask handles KILL. The kill policy's grace period (the KILL's, else
// the task's) replaces the compose stop_grace_period.
func (x *Executor) killTask(id string, grace *time.Duration) {
	x.mu.Lock()
	t, ok := x.tasks[id]
	x.mu.Unlock()
	if !ok {
		x.log.Warn("KILL for a task this executor does not run; ignored", "task", id)
		return
	}
	if grace == nil {
		if kp := t.info.KillPolicy; kp != nil && kp.GracePeriod != nil {
			d := time.Duration(kp.GracePeriod.Nanoseconds)
			grace = &d
		}
	}
	t.log.Info("KILL", "grace", fmtGrace(grace))
	t.kill(killRequest{grace: grace, state: mesos.TASK_KILLED, message: "killed by the framework"})
}

func fmtGrace(g *time.Duration) string {
	if g == nil {
		return "stop_grace_period"
	}
	return g.String()
}

// shutdownAll handles SHUTDOWN: every task is killed so that the executor
// exits within MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD.
func (x *Executor) shutdownAll() {
	x.mu.Lock()
	if x.shutdown {
		x.mu.Unlock()
		return
	}
	x.shutdown = true
	active := x.activeTasksLocked()
	x.mu.Unlock()
	grace := x.o.Env.ShutdownGracePeriod
	deadline := time.Now().Add(grace)
	budget := stopBudget(grace)
	x.log.Info("SHUTDOWN", "tasks", len(active), "grace", grace, "stop_budget", budget)
	// The budget is a deadline for the whole pod, not a grace period per
	// service: services stopped one after the other in dependency order
	// would otherwise take it once each.
	stopBy := time.Now().Add(budget)
	for _, t := range active {
		g := budget
		t.mu.Lock()
		if t.plan != nil {
			if m := maxStopGrace(t.plan); m > 0 && m < g {
				g = m
			}
		}
		t.mu.Unlock()
		t.kill(killRequest{grace: &g, deadline: stopBy, state: mesos.TASK_KILLED, message: "executor shut down by the agent"})
	}
	x.wg.Add(1)
	go func() {
		defer x.wg.Done()
		for _, t := range active {
			<-t.done
		}
		// Leave the agent a moment before its grace period ends.
		x.waitAcked(deadline.Add(-min(grace/10, 500*time.Millisecond)))
		x.exitNow("SHUTDOWN")
	}()
}

// run is the life of one task: STARTING, launch, RUNNING (and health),
// then a terminal state.
func (t *task) run() {
	x := t.x
	t.send(mesos.TASK_STARTING, nil, "compod: preparing pod "+t.pod, nil)

	plan, err := t.prepare()
	if err != nil {
		t.end(mesos.TASK_FAILED, mesos.REASON_TASK_INVALID.Enum(), err.Error(), nil)
		return
	}
	t.mu.Lock()
	t.plan = plan
	t.mu.Unlock()
	if k := t.killRequest(); k != nil {
		t.end(k.state, killedDuringLaunch(k), k.message+" before the pod was launched", nil)
		return
	}

	launchCtx, cancelLaunch := context.WithCancel(context.Background())
	launched := make(chan struct{})
	go func() {
		select {
		case <-t.killC:
			cancelLaunch()
		case <-launched:
		}
	}()
	start := time.Now()
	rec, err := x.o.Engine.Up(launchCtx, plan, t.upOptions())
	close(launched)
	cancelLaunch()
	if err != nil {
		if k := t.killRequest(); k != nil {
			t.end(k.state, killedDuringLaunch(k), k.message+" while the pod was launching", nil)
			return
		}
		t.end(mesos.TASK_FAILED, mesos.REASON_CONTAINER_LAUNCH_FAILED.Enum(), "launching pod "+t.pod+": "+err.Error(), nil)
		return
	}
	t.log.Info("pod started", "ip", rec.IP, "elapsed", time.Since(start))
	t.afterUp(plan, rec)

	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	states, err := x.o.Engine.Watch(watchCtx, t.pod)
	if err != nil {
		t.stopAndEnd(runtime.DownOptions{}, mesos.TASK_FAILED, mesos.REASON_COMMAND_EXECUTOR_FAILED.Enum(), "watching pod "+t.pod+": "+err.Error(), nil)
		return
	}
	running := runningMessage(t.pod, rec, plan)
	t.send(mesos.TASK_RUNNING, nil, running, nil)
	t.postLaunch(running)

	var healthy *bool
	for {
		select {
		case <-t.killC:
			k := t.killRequest()
			t.stopAndEnd(runtime.DownOptions{Timeout: k.grace, Deadline: k.deadline}, k.state, k.reason, k.message, nil)
			return
		case st, ok := <-states:
			if !ok {
				t.stopAndEnd(runtime.DownOptions{}, mesos.TASK_FAILED, mesos.REASON_COMMAND_EXECUTOR_FAILED.Enum(), "compod lost track of pod "+t.pod, nil)
				return
			}
			if t.killRequest() != nil {
				continue // the kill above decides
			}
			switch st.Phase {
			case runtime.PhaseFinished:
				t.stopAndEnd(runtime.DownOptions{}, mesos.TASK_FINISHED, nil, "every service of pod "+t.pod+" exited with code 0", exitLabels(st))
				return
			case runtime.PhaseFailed:
				reason, h := failureReason(st)
				msg := st.Message
				if msg == "" {
					msg = fmt.Sprintf("service %q failed (%s, exit code %d)", st.Service, st.Reason, st.ExitCode)
				}
				t.stopAndEnd(runtime.DownOptions{}, mesos.TASK_FAILED, reason, msg, exitLabels(st), withHealthy(h))
				return
			}
			if h := podHealthy(st.Health); h != nil && (healthy == nil || *h != *healthy) {
				healthy = h
				msg := "pod " + t.pod + " is healthy"
				if !*h {
					msg = "pod " + t.pod + " is unhealthy: " + unhealthyServices(st.Health)
				}
				t.send(mesos.TASK_RUNNING, mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.Enum(), msg, nil, withHealthy(h))
			}
		}
	}
}

func killedDuringLaunch(k *killRequest) *mesos.TaskStatus_Reason {
	if k.state == mesos.TASK_KILLED {
		return mesos.REASON_TASK_KILLED_DURING_LAUNCH.Enum()
	}
	return k.reason
}

// upOptions: with cgroups isolation the agent's limits on the executor's
// container already bound the pod; otherwise compod applies the task's.
func (t *task) upOptions() runtime.UpOptions {
	o := runtime.UpOptions{Pull: t.x.o.Pull, Timeout: t.x.o.LaunchTimeout, Owner: t.owner(), PullProgress: t.pullProgress,
		Networks: taskNetworks(t.info), Labels: taskLabels(t.info)}
	t.mu.Lock()
	if t.overrides.Pull != "" {
		o.Pull = t.overrides.Pull
	}
	if t.overrides.LaunchTimeout > 0 {
		o.Timeout = t.overrides.LaunchTimeout
	}
	t.mu.Unlock()
	if t.x.o.CgroupParent == "" {
		cpus, memMB := scalar(t.info.Resources, "cpus"), scalar(t.info.Resources, "mem")
		o.PodCPUs = cpus
		o.PodMemoryBytes = int64(memMB * (1 << 20))
	}
	return o
}

// ownerKind marks the pods that compod executors run (runtime.UpOptions.Owner).
const ownerKind = "mesos-executor"

// owner identifies the task's pod as run by this executor: once this
// executor is gone, the next executor on the agent reclaims the pod.
func (t *task) owner() map[string]string {
	env := t.x.o.Env
	return map[string]string{"kind": ownerKind, "framework": env.FrameworkID,
		"executor": env.ExecutorID, "task": t.id, "sandbox": env.Sandbox}
}

// IsExecutorOwner says whether a pod's owner is a compod executor (for
// runtime.Engine.Reclaim).
func IsExecutorOwner(owner map[string]string) bool { return owner["kind"] == ownerKind }

func scalar(rs []mesos.Resource, name string) float64 {
	var v float64
	for _, r := range rs {
		if r.Name == name && r.Scalar != nil {
			v += r.Scalar.Value
		}
	}
	return v
}

// stopAndEnd stops the pod (what still runs), reports the terminal state
// and removes the pod. The terminal update goes out once what the next
// task on the agent may need is free — the services have stopped, the
// pod's IP and host ports are released (runtime.DownOptions.Released) —
// and the rest of the removal follows it: the task's goroutine, which the
// executor waits for before it exits, ends only when the pod is removed.
// When the release itself fails the update waits for Down and says so. The
// service logs stay in the sandbox.
func (t *task) stopAndEnd(stop runtime.DownOptions, state mesos.TaskState, reason *mesos.TaskStatus_Reason, msg string, labels []mesos.Label, opts ...statusOpt) {
	eng := t.x.o.Engine
	start := time.Now()
	// A failing PreKill is reported; the pod is stopped all the same.
	if err := t.preKill(stop.Deadline); err != nil {
		msg += "; " + err.Error()
	}
	_, _, withPlugins := t.pluginChain()
	if err := eng.Stop(context.Background(), t.pod, stop); err != nil && !errors.Is(err, runtime.ErrPodNotFound) {
		t.log.Warn("stopping pod", "err", err)
	}
	t.log.Info("pod stopped", "elapsed", time.Since(start))
	ctx, cancel := context.WithTimeout(context.Background(), downTimeout)
	defer cancel()
	zero := time.Duration(0)
	released := false
	// With plugins the terminal update waits for PostKill, which runs once
	// the pod is removed, so that its failure is reported.
	err := eng.Down(ctx, t.pod, runtime.DownOptions{Timeout: &zero, Released: func() {
		if withPlugins {
			return
		}
		released = true
		t.log.Info("pod's IP and host ports released", "elapsed", time.Since(start))
		t.end(state, reason, msg, labels, opts...)
	}})
	if err != nil && !errors.Is(err, runtime.ErrPodNotFound) {
		t.log.Error("removing pod", "err", err, "terminal_update_sent", released)
		if !released {
			msg += fmt.Sprintf(" (removing the pod failed: %v; run `compod down -p %s`)", err, t.pod)
		}
	}
	t.log.Info("pod removed", "elapsed", time.Since(start))
	if err := t.postKill(); err != nil {
		msg += "; " + err.Error()
	}
	if !released {
		t.end(state, reason, msg, labels, opts...)
	}
}

// end marks the task terminal and sends the terminal update.
func (t *task) end(state mesos.TaskState, reason *mesos.TaskStatus_Reason, msg string, labels []mesos.Label, opts ...statusOpt) {
	t.mu.Lock()
	if t.terminal {
		t.mu.Unlock()
		return
	}
	t.terminal = true
	t.mu.Unlock()
	t.send(state, reason, msg, labels, opts...)
	t.x.taskEnded()
}

type statusOpt func(*mesos.TaskStatus)

func withHealthy(h *bool) statusOpt {
	return func(s *mesos.TaskStatus) { s.Healthy = h }
}

// send sends a status update of this task: RUNNING and terminal updates
// carry the port labels and the pod IP.
func (t *task) send(state mesos.TaskState, reason *mesos.TaskStatus_Reason, msg string, extra []mesos.Label, opts ...statusOpt) {
	st := mesos.TaskStatus{TaskID: t.info.TaskID, State: state.Enum(), Reason: reason}
	if msg != "" {
		st.Message = &msg
	}
	t.mu.Lock()
	labels := append(slices.Clone(t.labels), extra...)
	if len(t.netinfo) > 0 {
		st.ContainerStatus = &mesos.ContainerStatus{NetworkInfos: t.netinfo}
	}
	t.mu.Unlock()
	if len(labels) > 0 {
		st.Labels = &mesos.Labels{Labels: labels}
	}
	for _, o := range opts {
		o(&st)
	}
	t.x.sendUpdate(st)
}

// afterUp records what RUNNING reports and writes the sandbox files.
func (t *task) afterUp(plan *translate.PodPlan, rec *runtime.PodRecord) {
	var labels []mesos.Label
	for _, p := range rec.Ports {
		if p.Service == "" {
			continue // a framework's own mapping: in network_infos below
		}
		labels = append(labels, label(PortLabel(p), strconv.Itoa(int(p.HostPort))))
	}
	labels = append(labels, label("compod.pod", t.pod))
	if rec.IP != "" {
		labels = append(labels, label("compod.ip", rec.IP))
	}
	var netinfo []mesos.NetworkInfo
	for _, n := range rec.Networks {
		n := n
		ni := mesos.NetworkInfo{Name: &n.Request.Name}
		for _, ip := range n.IPs {
			ip := ip
			ni.IPAddresses = append(ni.IPAddresses, mesos.NetworkInfo_IPAddress{IPAddress: &ip})
		}
		// The ports published on this network, as Mesos reports a
		// container's port mappings.
		for _, p := range n.Request.Options.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = "tcp"
			}
			ni.PortMappings = append(ni.PortMappings, mesos.NetworkInfo_PortMapping{HostPort: uint32(p.HostPort), ContainerPort: uint32(p.ContainerPort), Protocol: &proto})
		}
		netinfo = append(netinfo, ni)
	}
	if len(netinfo) == 0 && rec.IP != "" {
		ip := rec.IP
		netinfo = []mesos.NetworkInfo{{IPAddresses: []mesos.NetworkInfo_IPAddress{{IPAddress: &ip}}}}
		if rec.Network != "" {
			netinfo[0].Name = &rec.Network
		}
	}
	t.mu.Lock()
	t.labels, t.netinfo = labels, netinfo
	t.mu.Unlock()
	if err := writeJSON(t.x.o.Env.Sandbox, PortsFile, rec.Ports, 0o644); err != nil {
		t.log.Warn("writing the port mapping to the sandbox", "err", err)
	}
}

func label(k, v string) mesos.Label { return mesos.Label{Key: k, Value: &v} }

func runningMessage(pod string, rec *runtime.PodRecord, plan *translate.PodPlan) string {
	names := make([]string, len(plan.Services))
	for i, s := range plan.Services {
		names[i] = s.Name
	}
	msg := fmt.Sprintf("pod %s running: services %s", pod, strings.Join(names, ", "))
	if rec.IP != "" {
		msg += "; ip " + rec.IP
	}
	for _, p := range rec.Ports {
		who := p.Service
		if who == "" {
			who = "network " + p.Network + " port"
		}
		msg += fmt.Sprintf("; %s %d/%s on host port %d", who, p.ContainerPort, proto(p), p.HostPort)
	}
	return msg
}

// failureReason maps the runtime's failure to a Mesos reason (and health).
func failureReason(st runtime.PodState) (*mesos.TaskStatus_Reason, *bool) {
	switch st.Reason {
	case runtime.ReasonOOM:
		return mesos.REASON_CONTAINER_LIMITATION_MEMORY.Enum(), nil
	case runtime.ReasonUnhealthy:
		f := false
		return mesos.REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.Enum(), &f
	}
	// A service exited non-zero (or vanished): the task's command failed.
	return mesos.REASON_COMMAND_EXECUTOR_FAILED.Enum(), nil
}

// exitLabels: compod.exit.<service> = code, for every service that exited.
func exitLabels(st runtime.PodState) []mesos.Label {
	names := make([]string, 0, len(st.Exits))
	for n := range st.Exits {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []mesos.Label
	for _, n := range names {
		out = append(out, label("compod.exit."+n, strconv.Itoa(int(st.Exits[n]))))
	}
	if st.Phase == runtime.PhaseFailed && st.Service != "" {
		out = append(out, label("compod.failed.service", st.Service), label("compod.failed.reason", string(st.Reason)))
	}
	return out
}

// podHealthy: false when a service with a healthcheck is unhealthy, true
// when all of them are healthy, nil while any is starting (or none has
// one).
func podHealthy(h map[string]string) *bool {
	if len(h) == 0 {
		return nil
	}
	all := true
	for _, s := range h {
		switch s {
		case runtime.HealthUnhealthy:
			f := false
			return &f
		case runtime.HealthHealthy:
		default:
			all = false
		}
	}
	if !all {
		return nil
	}
	return &all
}

func unhealthyServices(h map[string]string) string {
	var out []string
	for n, s := range h {
		if s == runtime.HealthUnhealthy {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// maxStopGrace is the longest stop_grace_period of the pod's services.
func maxStopGrace(p *translate.PodPlan) time.Duration {
	var m time.Duration
	for _, s := range p.Services {
		m = max(m, s.StopGracePeriod)
	}
	return m
}

// taskLabels are the TaskInfo's labels; compod reads its own
// (compod.bandwidth.*) from them, over the compose file's.
func taskLabels(info mesos.TaskInfo) map[string]string {
	var out map[string]string
	for _, l := range info.GetLabels().GetLabels() {
		if out == nil {
			out = map[string]string{}
		}
		out[l.Key] = l.GetValue()
	}
	return out
}
