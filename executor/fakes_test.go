package executor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/internal/agentsim"
	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

// fakeEngine is an in-memory pod engine for the protocol tests only: pure
// Mesos protocol behaviour that needs no container (status updates,
// acknowledgements, recovery, kill and shutdown sequencing, task
// validation). Everything that runs pods uses the real engine
// (e2e_test.go).
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
	// removeBlock, when set, makes Down wait for it (or ctx) after its
	// Released callback, as a slow removal of containers and cgroups;
	// removed counts the removals that finished.
	removeBlock chan struct{}
	removed     int
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

// Down releases "the network" (calls Released), then removes the pod, as
// the real engine does.
func (f *fakeEngine) Down(ctx context.Context, pod string, opts runtime.DownOptions) error {
	f.mu.Lock()
	f.downs = append(f.downs, pod)
	f.running[pod] = false
	block := f.removeBlock
	f.mu.Unlock()
	if opts.Released != nil {
		opts.Released()
	}
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	os.RemoveAll(filepath.Join(f.dir, pod))
	f.removed++
	return nil
}

func (f *fakeEngine) removals() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.removed
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

// harness runs an executor in this process, with the in-memory fake engine,
// against the Mesos agent emulator: the agent launches a placeholder
// process (it records the environment the agent gives it and sleeps) in
// place of the executor binary; the executor runs here with exactly that
// environment, so the test can inspect the fake engine, and the placeholder
// exits when Run returns, so the agent sees the executor exit. The agent
// side (subscription, events, acknowledgements, heartbeats, status codes,
// restarts) is the emulator's. Tests with real pods are in e2e_test.go.
type harness struct {
	t      *testing.T
	agent  *agentsim.Agent
	cfg    agentsim.Config
	ex     *agentsim.Executor
	eng    *fakeEngine
	mod    func(*Options)
	x      *Executor
	env    Env
	files  map[string]string // compose files for the next launch
	runErr chan error
	cancel context.CancelFunc
}

// newHarness starts the agent; launch starts the executor with a task.
func newHarness(t *testing.T, mod func(*Options), cfgMod ...func(*agentsim.Config)) *harness {
	h := &harness{t: t, eng: newFakeEngine(t), mod: mod, runErr: make(chan error, 1), files: map[string]string{}}
	h.cfg = agentsim.Config{
		WorkDir:                t.TempDir(),
		Checkpoint:             true,
		RecoveryTimeout:        5 * time.Second,
		SubscriptionBackoffMax: time.Second,
		ShutdownGracePeriod:    3 * time.Second,
		HeartbeatInterval:      200 * time.Millisecond, // the executor must ignore them
	}
	for _, m := range cfgMod {
		m(&h.cfg)
	}
	if testing.Verbose() {
		h.cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	a, err := agentsim.Start(context.Background(), h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.agent = a
	t.Cleanup(func() {
		if h.cancel != nil {
			h.cancel()
			select {
			case err := <-h.runErr:
				h.runErr <- err
			case <-time.After(10 * time.Second):
				t.Error("executor did not stop")
			}
		}
		_ = a.Close()
	})
	return h
}

// launch has the agent launch the executor with info (its compose files
// fetched into the sandbox) and runs the executor.
func (h *harness) launch(info mesos.TaskInfo) {
	t := h.t
	t.Helper()
	var uris []mesos.CommandInfo_URI
	src := t.TempDir()
	for name, content := range h.files {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		uris = append(uris, mesos.CommandInfo_URI{Value: p})
	}
	h.files = map[string]string{}
	cmd := `env > placeholder.env.tmp && mv placeholder.env.tmp placeholder.env; trap 'exit 0' TERM; while :; do sleep 0.1; done`
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ex, err := h.agent.LaunchExecutor(ctx, &mesos.ExecutorInfo{
		Type:       mesos.ExecutorInfo_CUSTOM,
		ExecutorID: mesos.ExecutorID{Value: "compod-" + info.TaskID.Value},
		Command:    &mesos.CommandInfo{Value: &cmd, URIs: uris},
	}, mesos.FrameworkInfo{User: "root", Name: "protocol-test", Checkpoint: &h.cfg.Checkpoint}, info)
	if err != nil {
		t.Fatal(err)
	}
	h.ex = ex
	envFile := filepath.Join(ex.Sandbox(), "placeholder.env")
	var b []byte
	for i := 0; ; i++ {
		if b, err = os.ReadFile(envFile); err == nil {
			break
		}
		if i > 500 {
			t.Fatalf("placeholder executor did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	vars := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			vars[k] = v
		}
	}
	h.env, err = ParseEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Env: h.env, Engine: h.eng, Load: fakeLoad, CgroupParent: "/mesos/cid", TerminalAckTimeout: 2 * time.Second,
		Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if h.mod != nil {
		h.mod(&o)
	}
	h.env = o.Env
	x, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.x = x
	runCtx, runCancel := context.WithCancel(context.Background())
	h.cancel = runCancel
	go func() {
		err := x.Run(runCtx)
		// The executor process ends: so does the placeholder.
		_ = syscall.Kill(ex.PID(), syscall.SIGTERM)
		h.runErr <- err
	}()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

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

// taskInfo makes a task naming compose files (fetched into the sandbox at
// launch) with host ports.
func (h *harness) taskInfo(id string, files map[string]string, ports ...[2]uint64) mesos.TaskInfo {
	var names []string
	for name, content := range files {
		h.files[name] = content
		names = append(names, name)
	}
	info := mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, Resources: []mesos.Resource{
		scalarRes("cpus", 0.5), scalarRes("mem", 64),
	}}
	if len(ports) > 0 {
		info.Resources = append(info.Resources, portsResource(ports...))
	}
	if len(names) > 0 {
		info.Labels = &mesos.Labels{Labels: []mesos.Label{label(LabelFileName, strings.Join(names, ","))}}
	}
	return info
}

func (h *harness) waitState(task string, state mesos.TaskState) mesos.TaskStatus {
	h.t.Helper()
	return waitState(h.t, h.ex, task, state, 5*time.Second)
}

// waitRecord waits until the agent has received a status update matching f.
func (h *harness) waitRecord(what string, d time.Duration, f func(agentsim.StatusRecord) bool) agentsim.StatusRecord {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, r := range h.ex.Records() {
			if f(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; statuses: %s", what, statuses(h.ex))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) kill(id string, grace *time.Duration) {
	h.t.Helper()
	if err := h.ex.Kill(ctxFor(h.t, 5*time.Second), id, grace); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) waitSubscriptions(n int, d time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(d)
	for h.ex.Subscriptions() < n {
		if time.Now().After(deadline) {
			h.t.Fatalf("subscriptions %d, want %d", h.ex.Subscriptions(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
