package runtime_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

// webPod is a pod of one HTTP service (testapp on :8080), published on
// hostPort of 127.0.0.1 unless hostPort is 0.
func webPod(h *harness, pod string, hostPort int) *translate.PodPlan {
	ports := ""
	if hostPort != 0 {
		ports = fmt.Sprintf("\n    ports: [\"127.0.0.1:%d:8080\"]", hostPort)
	}
	return h.compose(pod, fmt.Sprintf(`
services:
  web:
    image: %s
    command: ["-listen", ":8080"]
    stop_grace_period: 1s%s
`, testenv.TestappRef, ports), nil)
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

// serves waits until url answers 200, as a user's curl would.
func serves(t testing.TB, url string) {
	t.Helper()
	waitFor(t, 20*time.Second, url+" to answer", func() (bool, string) {
		resp, err := httpClient.Get(url)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode == 200, resp.Status
	})
}

// Two compod instances on one host (other containerd namespaces, other
// state dirs) run a pod of the same name from the same compose file: both
// run at once, each on its own IP with its own netns and cgroup; removing
// one leaves the other running and reachable. A host port published by a
// pod of one instance is refused to the other with an error naming the
// pod and its instance, and the refused launch leaves nothing.
func TestTwoInstancesSamePodName(t *testing.T) {
	a := newHarness(t)
	b := a.otherInstance("compod-test-names-b")
	if a.eng.Instance() == b.eng.Instance() {
		t.Fatalf("two instances have the same id %s", a.eng.Instance())
	}

	// The same host port.
	portPod := "names-port"
	port := freeLoopbackPort(t)
	a.up(webPod(a, portPod, port))
	serves(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	b.before = b.snapshot() // a's pod is running: it is not b's leak
	_, err := b.eng.Up(b.ctx, webPod(b, portPod, port), runtime.UpOptions{Timeout: time.Minute})
	wantErr(t, err, fmt.Sprintf("host port %d/tcp is already published by pod %q", port, portPod),
		"state dir "+a.stateDir, fmt.Sprintf("namespace %q", testenv.Namespace))
	b.assertNoLeak()
	if _, err := b.eng.Status(b.ctx, portPod); !errors.Is(err, runtime.ErrPodNotFound) {
		t.Errorf("b's status of the refused pod: %v, want not found", err)
	}
	serves(t, fmt.Sprintf("http://127.0.0.1:%d/", port))
	a.down(portPod)
	b.before = b.snapshot()

	// The same pod name.
	pod := "names-twin"
	recA := a.up(webPod(a, pod, 0))
	recB := b.up(webPod(b, pod, 0))
	if recA.IP == recB.IP || recA.NetNSPath == recB.NetNSPath || recA.Cgroup == recB.Cgroup || recA.CNIID == recB.CNIID {
		t.Fatalf("the instances' pods share host-wide names: a %s %s %s %s, b %s %s %s %s",
			recA.IP, recA.NetNSPath, recA.Cgroup, recA.CNIID, recB.IP, recB.NetNSPath, recB.Cgroup, recB.CNIID)
	}
	serves(t, "http://"+recA.IP+":8080/")
	serves(t, "http://"+recB.IP+":8080/")

	grace := time.Second
	if err := a.eng.Down(a.ctx, pod, runtime.DownOptions{Timeout: &grace}); err != nil {
		t.Fatalf("down of a's pod: %v", err)
	}
	b.assertRunning(pod)
	serves(t, "http://"+recB.IP+":8080/")
	if _, err := os.Stat(recA.NetNSPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a's netns %s after its down: %v", recA.NetNSPath, err)
	}
	b.down(pod)
	a.assertNoLeak()
}

// 20 pods are launched at once and removed at once: every launch
// succeeds, every pod answers on its own IP, and nothing is left.
func TestManyPodsConcurrently(t *testing.T) {
	const n = 20
	h := newHarness(t)
	plans := make([]*translate.PodPlan, n)
	for i := range plans {
		plans[i] = webPod(h, fmt.Sprintf("names-many-%02d", i), 0)
	}
	recs := make([]*runtime.PodRecord, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i, plan := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs[i], errs[i] = h.eng.Up(h.ctx, plan, runtime.UpOptions{Timeout: 2 * time.Minute})
		}()
	}
	wg.Wait()
	t.Logf("%d pods up in %v", n, time.Since(start))
	ips := map[string]string{}
	for i, err := range errs {
		if err != nil {
			t.Errorf("up of %s: %v", plans[i].Name, err)
			continue
		}
		if other, dup := ips[recs[i].IP]; dup {
			t.Errorf("pods %s and %s have the same IP %s", other, plans[i].Name, recs[i].IP)
		}
		ips[recs[i].IP] = plans[i].Name
		serves(t, "http://"+recs[i].IP+":8080/")
	}

	start = time.Now()
	grace := time.Second
	for i, plan := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.eng.Down(h.ctx, plan.Name, runtime.DownOptions{Timeout: &grace})
		}()
	}
	wg.Wait()
	t.Logf("%d pods down in %v", n, time.Since(start))
	for i, err := range errs {
		if err != nil {
			t.Errorf("down of %s: %v", plans[i].Name, err)
		}
	}
	h.assertNoLeak()
}

// containerd is SIGKILLed while a pod is being launched, and started
// again: the launch fails, `compod gc` then removes everything the launch
// made, and the pod name can be used again at once.
func TestContainerdKilledMidLaunchThenGC(t *testing.T) {
	h := newHarness(t)
	pod := "names-ctrdkill"
	plan := slowPod(h, pod)
	upErr := make(chan error, 1)
	go func() {
		_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{Timeout: time.Minute, Owner: map[string]string{"kind": runtime.OwnerKindCLI}})
		upErr <- err
	}()
	// Mid-launch: the sandbox and db run, app waits for db to be healthy.
	waitFor(t, 20*time.Second, "db to run while the launch waits for it", func() (bool, string) {
		st, err := h.eng.Status(h.ctx, pod)
		if err != nil {
			return false, err.Error()
		}
		return len(st.Services) > 0 && st.Services[0].Name == "db" && st.Services[0].State == runtime.StateRunning, fmt.Sprint(st.Services)
	})
	killContainerd(t)
	err := <-upErr
	containerdCtl(t, "start")
	if err == nil {
		t.Fatal("the launch succeeded although containerd was killed during it")
	}
	t.Logf("up: %v", err)

	gc := h.newEngine() // `compod gc`, a process of its own
	pods, err := gc.GC(h.ctx, runtime.GCOptions{})
	if err != nil {
		t.Fatalf("gc: %v (%+v)", err, pods)
	}
	if _, err := h.eng.Status(h.ctx, pod); !errors.Is(err, runtime.ErrPodNotFound) {
		// The launch's own rollback may have removed it all already;
		// either way nothing of it may be left.
		t.Errorf("status after gc: %v, want not found", err)
	}
	h.assertNoLeak()

	// The name is usable at once, by the next compod process (this
	// process's connection may still be in gRPC's reconnect backoff from
	// the outage).
	again := h.newEngine()
	if _, err := again.Up(h.ctx, plan, runtime.UpOptions{Timeout: time.Minute}); err != nil {
		t.Fatalf("up after gc: %v", err)
	}
	grace := time.Second
	if err := again.Down(h.ctx, pod, runtime.DownOptions{Timeout: &grace}); err != nil {
		t.Fatalf("down: %v", err)
	}
	h.assertNoLeak()
}

// killContainerd SIGKILLs the private containerd (its shims and
// containers live on, as after a crash) and waits until it is gone.
func killContainerd(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/run/compod-test/containerd.pid")
	if err != nil {
		t.Fatalf("containerd's pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("containerd's pid file: %v", err)
	}
	// Whatever happens next, the other tests need containerd back.
	t.Cleanup(func() { containerdCtl(t, "start") })
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing containerd (pid %d): %v", pid, err)
	}
	waitFor(t, 10*time.Second, "containerd to die", func() (bool, string) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		// Gone, or a zombie its parent has not reaped yet.
		return err != nil || strings.Contains(string(stat), ") Z "), string(stat)
	})
}
