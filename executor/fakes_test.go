package executor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"

	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

// fakeAgent speaks just enough of the agent's executor API for protocol
// tests: protobuf calls in, a RecordIO protobuf event stream out.
type fakeAgent struct {
	t   *testing.T
	srv *http.Server
	ln  net.Listener

	mu         sync.Mutex
	up         bool // accepts subscriptions
	autoAck    bool
	stream     chan *executor.Event // the current subscription's events
	streamDone chan struct{}        // closed to end the current subscription
	subscribes []*executor.Call
	updates    []mesos.TaskStatus
	changed    chan struct{}
}

func newFakeAgent(t *testing.T) *fakeAgent {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &fakeAgent{t: t, ln: ln, up: true, autoAck: true, changed: make(chan struct{})}
	a.srv = &http.Server{Handler: http.HandlerFunc(a.serve)}
	go a.srv.Serve(ln)
	t.Cleanup(func() { a.srv.Close() })
	return a
}

func (a *fakeAgent) endpoint() string { return a.ln.Addr().String() }

func (a *fakeAgent) notify() {
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *fakeAgent) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var c executor.Call
	if err := c.Unmarshal(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	if !a.up {
		a.mu.Unlock()
		http.Error(w, "agent recovering", http.StatusServiceUnavailable)
		return
	}
	switch c.Type {
	case executor.Call_SUBSCRIBE:
		if a.streamDone != nil {
			close(a.streamDone)
		}
		stream, done := make(chan *executor.Event, 100), make(chan struct{})
		a.stream, a.streamDone = stream, done
		a.subscribes = append(a.subscribes, &c)
		a.notify()
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
		write := func(ev *executor.Event) bool {
			b, _ := ev.Marshal()
			if _, err := fmt.Fprintf(w, "%d\n%s", len(b), b); err != nil {
				return false
			}
			w.(http.Flusher).Flush()
			return true
		}
		write(&executor.Event{Type: executor.Event_SUBSCRIBED, Subscribed: &executor.Event_Subscribed{
			AgentInfo: mesos.AgentInfo{Hostname: "fake"}}})
		// Like the agent, take over the resent updates and acknowledge them.
		a.mu.Lock()
		if a.autoAck {
			for _, u := range c.Subscribe.UnacknowledgedUpdates {
				stream <- &executor.Event{Type: executor.Event_ACKNOWLEDGED, Acknowledged: &executor.Event_Acknowledged{TaskID: u.Status.TaskID, UUID: u.Status.UUID}}
			}
		}
		a.mu.Unlock()
		for {
			select {
			case ev := <-stream:
				if !write(ev) {
					return
				}
			case <-done:
				// Break the connection, as a dying agent does.
				if hj, ok := w.(http.Hijacker); ok {
					if conn, _, err := hj.Hijack(); err == nil {
						conn.Close()
					}
				}
				return
			case <-r.Context().Done():
				return
			}
		}
	case executor.Call_UPDATE:
		st := c.Update.Status
		a.updates = append(a.updates, st)
		if a.autoAck && a.stream != nil {
			a.stream <- &executor.Event{Type: executor.Event_ACKNOWLEDGED, Acknowledged: &executor.Event_Acknowledged{TaskID: st.TaskID, UUID: st.UUID}}
		}
		a.notify()
		a.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	default:
		a.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}
}

// send pushes an event on the current subscription.
func (a *fakeAgent) send(ev *executor.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stream == nil {
		a.t.Fatal("no subscription")
	}
	a.stream <- ev
}

// restart breaks the subscription; the agent is down for d.
func (a *fakeAgent) restart(d time.Duration) {
	a.mu.Lock()
	a.up = false
	if a.streamDone != nil {
		close(a.streamDone)
		a.streamDone, a.stream = nil, nil
	}
	a.mu.Unlock()
	if d >= 0 {
		time.AfterFunc(d, func() {
			a.mu.Lock()
			a.up = true
			a.mu.Unlock()
		})
	}
}

func (a *fakeAgent) setAutoAck(v bool) {
	a.mu.Lock()
	a.autoAck = v
	a.mu.Unlock()
}

// waitFor waits until cond (called under the lock) holds.
func (a *fakeAgent) waitFor(what string, d time.Duration, cond func() bool) {
	a.t.Helper()
	deadline := time.After(d)
	for {
		a.mu.Lock()
		ok, ch := cond(), a.changed
		a.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			a.t.Fatalf("timed out waiting for %s; updates: %s", what, a.states())
		}
	}
}

func (a *fakeAgent) waitState(task string, state mesos.TaskState, d time.Duration) mesos.TaskStatus {
	a.t.Helper()
	var got mesos.TaskStatus
	a.waitFor(fmt.Sprintf("%s %v", task, state), d, func() bool {
		for _, u := range a.updates {
			if u.TaskID.Value == task && *u.State == state {
				got = u
				return true
			}
			if u.TaskID.Value == task && isTerminal(*u.State) {
				a.t.Fatalf("waiting for %s %v, got terminal %v: %s", task, state, *u.State, u.GetMessage())
			}
		}
		return false
	})
	return got
}

func (a *fakeAgent) states() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := ""
	for _, u := range a.updates {
		s += fmt.Sprintf("[%s %v %q] ", u.TaskID.Value, *u.State, u.GetMessage())
	}
	return s
}

// fakeEngine is an in-memory pod engine for protocol tests only.
type fakeEngine struct {
	dir string
	mu  sync.Mutex
	ups []*translate.PodPlan
	opt []runtime.UpOptions
	// upBlock, when set, makes Up wait for it (or ctx).
	upBlock chan struct{}
	upErr   error
	watch   map[string]chan runtime.PodState
	stops   []string
	downs   []string
	stopT   []*time.Duration
	running map[string]bool
}

func newFakeEngine(t *testing.T) *fakeEngine {
	return &fakeEngine{dir: t.TempDir(), watch: map[string]chan runtime.PodState{}, running: map[string]bool{}}
}

func (f *fakeEngine) Up(ctx context.Context, plan *translate.PodPlan, opts runtime.UpOptions) (*runtime.PodRecord, error) {
	f.mu.Lock()
	f.ups = append(f.ups, plan)
	f.opt = append(f.opt, opts)
	block, err := f.upBlock, f.upErr
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	if err != nil {
		return nil, err
	}
	for _, s := range plan.Services {
		_, out, errf := f.LogFiles(plan.Name, s.Name)
		os.MkdirAll(filepath.Dir(out), 0o755)
		os.WriteFile(out, []byte("hello from "+s.Name+"\n"), 0o644)
		os.WriteFile(errf, nil, 0o644)
	}
	f.mu.Lock()
	f.running[plan.Name] = true
	f.watch[plan.Name] = make(chan runtime.PodState, 10)
	f.mu.Unlock()
	return &runtime.PodRecord{Plan: *plan, IP: "10.88.0.7", Network: "compod", Ports: plan.Ports}, nil
}

func (f *fakeEngine) Watch(ctx context.Context, pod string) (<-chan runtime.PodState, error) {
	f.mu.Lock()
	in := f.watch[pod]
	f.mu.Unlock()
	out := make(chan runtime.PodState)
	go func() {
		defer close(out)
		select {
		case out <- runtime.PodState{Pod: pod, Phase: runtime.PhaseRunning}:
		case <-ctx.Done():
			return
		}
		for {
			select {
			case st := <-in:
				select {
				case out <- st:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func (f *fakeEngine) push(pod string, st runtime.PodState) {
	f.mu.Lock()
	ch := f.watch[pod]
	f.mu.Unlock()
	ch <- st
}

func (f *fakeEngine) Stop(ctx context.Context, pod string, opts runtime.DownOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, pod)
	f.stopT = append(f.stopT, opts.Timeout)
	f.running[pod] = false
	return nil
}

func (f *fakeEngine) Down(ctx context.Context, pod string, opts runtime.DownOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.downs = append(f.downs, pod)
	f.running[pod] = false
	os.RemoveAll(filepath.Join(f.dir, pod))
	return nil
}

func (f *fakeEngine) LogFiles(pod, service string) (string, string, string) {
	p := filepath.Join(f.dir, pod, "logs", service)
	return p + ".log", p + ".stdout.log", p + ".stderr.log"
}

func (f *fakeEngine) isRunning(pod string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running[pod]
}

func (f *fakeEngine) counts() (ups, stops, downs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ups), len(f.stops), len(f.downs)
}

// fakeLoad returns a two-service plan publishing web's 80 and 443.
func fakeLoad(ctx context.Context, req LoadRequest) (*translate.PodPlan, error) {
	for _, f := range req.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if string(b) == "invalid" {
			return nil, fmt.Errorf("%s: service \"web\": field \"image\" is required", filepath.Base(f))
		}
	}
	ports := []translate.PortMapping{
		{Service: "web", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"},
		{Service: "web", ContainerPort: 443, Protocol: "tcp"},
	}
	return &translate.PodPlan{Name: req.Project, Files: req.Files, WorkingDir: req.WorkingDir,
		Services: []translate.ServiceSpec{
			{Name: "db", Image: "busybox", StopGracePeriod: 10 * time.Second},
			{Name: "web", Image: "testapp", Ports: append([]translate.PortMapping(nil), ports...), StopGracePeriod: 10 * time.Second},
		},
		Ports: ports}, nil
}

// harness runs an executor against a fake agent and engine.
type harness struct {
	t      *testing.T
	agent  *fakeAgent
	eng    *fakeEngine
	x      *Executor
	env    Env
	runErr chan error
	cancel context.CancelFunc
}

func newHarness(t *testing.T, mod func(*Options)) *harness {
	h := &harness{t: t, agent: newFakeAgent(t), eng: newFakeEngine(t), runErr: make(chan error, 1)}
	h.env = Env{AgentEndpoint: h.agent.endpoint(), FrameworkID: "fw", ExecutorID: "ex", Sandbox: t.TempDir(),
		ShutdownGracePeriod: 3 * time.Second, Checkpoint: true, RecoveryTimeout: 5 * time.Second, SubscriptionBackoffMax: 200 * time.Millisecond}
	h.env.Directory = h.env.Sandbox
	o := Options{Env: h.env, Engine: h.eng, Load: fakeLoad, CgroupParent: "/mesos/cid", TerminalAckTimeout: 2 * time.Second,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if mod != nil {
		mod(&o)
	}
	h.env = o.Env
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.x = x
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.runErr <- x.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.runErr:
		case <-time.After(10 * time.Second):
			t.Error("executor did not stop")
		}
	})
	h.agent.waitFor("SUBSCRIBE", 5*time.Second, func() bool { return len(h.agent.subscribes) > 0 })
	return h
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

func (h *harness) waitExit(d time.Duration) error {
	h.t.Helper()
	select {
	case err := <-h.runErr:
		h.runErr <- err
		return err
	case <-time.After(d):
		h.t.Fatalf("executor did not exit within %v", d)
		return nil
	}
}

// taskInfo makes a task with compose files in the sandbox and host ports.
func (h *harness) taskInfo(id string, files map[string]string, ports ...[2]uint64) mesos.TaskInfo {
	var names []string
	for name, content := range files {
		os.WriteFile(filepath.Join(h.env.Sandbox, name), []byte(content), 0o644)
		names = append(names, name)
	}
	s := mesos.SCALAR
	info := mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, Resources: []mesos.Resource{
		{Name: "cpus", Type: &s, Scalar: &mesos.Value_Scalar{Value: 0.5}},
		{Name: "mem", Type: &s, Scalar: &mesos.Value_Scalar{Value: 64}},
	}}
	if len(ports) > 0 {
		info.Resources = append(info.Resources, portsResource(ports...))
	}
	if len(names) > 0 {
		v := ""
		for i, n := range names {
			if i > 0 {
				v += ","
			}
			v += n
		}
		info.Labels = &mesos.Labels{Labels: []mesos.Label{label(LabelFileName, v)}}
	}
	return info
}

func (h *harness) launch(info mesos.TaskInfo) {
	h.agent.send(&executor.Event{Type: executor.Event_LAUNCH, Launch: &executor.Event_Launch{Task: info}})
}

func isTerminal(s mesos.TaskState) bool {
	switch s {
	case mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_LOST, mesos.TASK_ERROR, mesos.TASK_DROPPED, mesos.TASK_GONE:
		return true
	}
	return false
}
