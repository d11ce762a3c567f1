package runtime_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"

	"github.com/compod/compod/cgroups"
	"github.com/compod/compod/cni"
	"github.com/compod/compod/cni/cnitest"
	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

// testCgroupParent keeps test pods apart from real ones.
const testCgroupParent = "/compod-test"

type harness struct {
	t         testing.TB
	ctx       context.Context
	eng       *runtime.Engine
	client    *client.Client
	namespace string
	stateDir  string
	// ports is the host-wide port registry the test's engines use: one
	// of the test's own, so that tests do not meet real pods' claims.
	ports  string
	extra  []runtime.Option
	before hostState
}

// newHarness gives a test an engine on the private containerd with its own
// state dir, and checks at cleanup that the test left nothing behind.
func newHarness(t testing.TB, extra ...runtime.Option) *harness {
	t.Helper()
	return newHarnessIn(t, testenv.Namespace, t.TempDir(), extra...)
}

// otherInstance is a second compod instance on the host, as another
// operator's or an executor's: its own containerd namespace ns (made with
// the test images, removed at cleanup) and state dir, and the same
// host-wide port registry as h.
func (h *harness) otherInstance(ns string, extra ...runtime.Option) *harness {
	h.t.Helper()
	h.t.Cleanup(func() { testenv.RemoveNamespace(h.t, h.client, ns) })
	return newHarnessIn(h.t, ns, h.ports, extra...)
}

func newHarnessIn(t testing.TB, ns, ports string, extra ...runtime.Option) *harness {
	t.Helper()
	c := testenv.Client(t)
	testenv.EnsureImagesIn(t, c, ns)
	h := &harness{t: t, ctx: testenv.ContextIn(t, ns), client: c, namespace: ns,
		stateDir: t.TempDir(), ports: ports, extra: extra}
	h.eng = h.newEngine()
	h.before = h.snapshot()
	return h
}

// newEngine makes another engine on the harness's state dir, as a second
// compod process would (with more options, one configured differently);
// it is closed at cleanup.
func (h *harness) newEngine(more ...runtime.Option) *runtime.Engine {
	h.t.Helper()
	t := h.t
	opts := append([]runtime.Option{
		runtime.WithNamespace(h.namespace),
		runtime.WithStateDir(h.stateDir),
		runtime.WithPortRegistryDir(h.ports),
		runtime.WithCgroupParent(testCgroupParent),
		runtime.WithCompodBinary(testenv.CompodBinary(t)),
		runtime.WithCNI(cni.Config{BinDirs: []string{"/usr/lib/cni", "/opt/cni/bin"}}),
		runtime.WithLogger(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}, h.extra...)
	opts = append(opts, more...)
	eng, err := runtime.New(h.ctx, testenv.Address(), opts...)
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// compose writes a compose file (and extra files) into a fresh project
// dir and translates it.
func (h *harness) compose(pod, yaml string, extra map[string]string) *translate.PodPlan {
	h.t.Helper()
	dir := h.t.TempDir()
	for name, content := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			h.t.Fatal(err)
		}
	}
	f := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		h.t.Fatal(err)
	}
	plan, err := translate.Load(h.ctx, translate.LoadOptions{Files: []string{f}, ProjectName: pod})
	if err != nil {
		h.t.Fatalf("translate: %v", err)
	}
	return plan
}

// up starts a pod and registers its removal plus the leak check.
func (h *harness) up(plan *translate.PodPlan) *runtime.PodRecord {
	h.t.Helper()
	rec, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{})
	if err != nil {
		h.t.Fatalf("up: %v", err)
	}
	return rec
}

// down removes the pod and asserts nothing is left. Test services are
// mostly `sleep` or `sh` as PID 1, which ignore SIGTERM, so the grace
// period is short (TestStopGracePeriod checks grace periods itself).
func (h *harness) down(pod string) {
	h.t.Helper()
	grace := time.Second
	if err := h.eng.Down(h.ctx, pod, runtime.DownOptions{Timeout: &grace}); err != nil {
		h.t.Fatalf("down: %v", err)
	}
	h.assertNoLeak()
}

// hostState is everything a pod could leave behind.
type hostState struct {
	containers, tasks, snapshots, leases, mounts, cgroups, netns, portClaims []string
	cni                                                                      cnitest.State
}

func (h *harness) snapshot() hostState {
	h.t.Helper()
	ctx := h.ctx
	var s hostState
	ctrs, err := h.client.Containers(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, c := range ctrs {
		s.containers = append(s.containers, c.ID())
		if _, err := c.Task(ctx, nil); err == nil {
			s.tasks = append(s.tasks, c.ID())
		}
	}
	err = h.client.SnapshotService("overlayfs").Walk(ctx, func(_ context.Context, i snapshots.Info) error {
		s.snapshots = append(s.snapshots, i.Name)
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	ls, err := h.client.LeasesService().List(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, l := range ls {
		s.leases = append(s.leases, l.ID)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		if strings.Contains(line, h.stateDir) || strings.Contains(line, "/netns/compod-") || strings.Contains(line, "/"+h.namespace+"/") {
			f := strings.Fields(line)
			s.mounts = append(s.mounts, f[4])
		}
	}
	hs, _ := cgroups.Hierarchies()
	for _, hy := range hs {
		ents, _ := os.ReadDir(filepath.Join(hy.Mount, testCgroupParent))
		for _, e := range ents {
			if e.IsDir() {
				s.cgroups = append(s.cgroups, filepath.Join(hy.Mount, testCgroupParent, e.Name()))
			}
		}
	}
	ents, _ := os.ReadDir(runtime.DefaultNetNSDir)
	for _, e := range ents {
		s.netns = append(s.netns, e.Name())
	}
	s.cni = cnitest.Snapshot(h.t, h.stateDir)
	ents, _ = os.ReadDir(h.ports)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			s.portClaims = append(s.portClaims, e.Name())
		}
	}
	return s
}

func (h *harness) assertNoLeak() {
	h.t.Helper()
	after := h.snapshot()
	b := h.before
	for _, c := range []struct {
		what          string
		before, after []string
	}{
		{"containers", b.containers, after.containers},
		{"tasks", b.tasks, after.tasks},
		{"snapshots", b.snapshots, after.snapshots},
		{"leases", b.leases, after.leases},
		{"mounts", b.mounts, after.mounts},
		{"cgroups", b.cgroups, after.cgroups},
		{"netns", b.netns, after.netns},
		{"host port claims", b.portClaims, after.portClaims},
	} {
		var leaked []string
		for _, x := range c.after {
			if !slices.Contains(c.before, x) {
				leaked = append(leaked, x)
			}
		}
		if len(leaked) > 0 {
			h.t.Errorf("leaked %s: %v", c.what, leaked)
		}
	}
	b.cni.AssertNoLeak(h.t, after.cni)
	if ents, _ := os.ReadDir(filepath.Join(h.stateDir, "pods")); len(ents) > 0 {
		h.t.Errorf("leaked pod state dirs: %v", ents)
	}
}

// waitFor polls cond (test-side only) until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, last)
}

// logsOf returns a service's combined output.
func (h *harness) logsOf(pod, service string) string {
	var b strings.Builder
	if err := h.eng.Logs(h.ctx, pod, runtime.LogOptions{Service: service}, &b); err != nil {
		h.t.Fatalf("logs %s/%s: %v", pod, service, err)
	}
	return b.String()
}

// logsUntil waits until a service's output holds marker (a probe's last
// line) and returns that output.
func (h *harness) logsUntil(pod, service, marker string) string {
	h.t.Helper()
	var logs string
	waitFor(h.t, 20*time.Second, fmt.Sprintf("%s/%s printing %q", pod, service, marker), func() (bool, string) {
		logs = h.logsOf(pod, service)
		return strings.Contains(logs, marker), logs
	})
	return logs
}

func freeLoopbackPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
