package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

// slowPod is a pod whose launch takes a moment (testenv.SlowStartCompose).
func slowPod(h *harness, pod string) *translate.PodPlan {
	return h.compose(pod, testenv.SlowStartCompose(), nil)
}

// assertRunning checks what `compod ps` and `ip netns` would show of a
// pod that started: every service running, an IP, its netns pinned.
func (h *harness) assertRunning(pod string) {
	h.t.Helper()
	st, err := h.eng.Status(h.ctx, pod)
	if err != nil {
		h.t.Fatalf("status of %s: %v", pod, err)
	}
	if st.State != runtime.PhaseRunning || st.IP == "" {
		h.t.Errorf("pod %s: state %s ip %q, want running with an IP", pod, st.State, st.IP)
	}
	for _, s := range st.Services {
		if s.State != runtime.StateRunning {
			h.t.Errorf("pod %s: service %s is %s, want running", pod, s.Name, s.State)
		}
	}
	if want := runtime.DefaultNetNSDir + "/compod-" + h.eng.Instance() + "-" + pod; st.NetNS != want {
		h.t.Errorf("pod %s: netns %q, want %q", pod, st.NetNS, want)
	}
	if _, err := os.Stat(st.NetNS); err != nil {
		h.t.Errorf("pod %s has no network namespace: %v", pod, err)
	}
}

// Two `up` of the same pod at once, from two compod processes (engines):
// exactly one launches it; the other fails at once saying why, and
// removes nothing of the winner's, which runs with its network and shows
// in ps; after down nothing is left.
func TestConcurrentUpOfOnePod(t *testing.T) {
	h := newHarness(t)
	pod := "twice"
	plan := slowPod(h, pod)
	engines := []*runtime.Engine{h.eng, h.newEngine()}
	errs := make([]error, len(engines))
	took := make([]time.Duration, len(engines))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, eng := range engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			t0 := time.Now()
			_, errs[i] = eng.Up(h.ctx, plan, runtime.UpOptions{Timeout: time.Minute})
			took[i] = time.Since(t0)
		}()
	}
	close(start)
	wg.Wait()
	defer h.down(pod)
	won := 0
	for i, err := range errs {
		if err == nil {
			won++
			continue
		}
		wantErr(t, err, fmt.Sprintf("pod %q is being started or removed by another compod process (pid %d)", pod, os.Getpid()))
		if !errors.Is(err, runtime.ErrPodBusy) {
			t.Errorf("error %v is not ErrPodBusy", err)
		}
		if took[i] > time.Second {
			t.Errorf("the losing up took %v: it should fail at once", took[i])
		}
	}
	if won != 1 {
		t.Fatalf("%d launches succeeded (%v), want exactly one", won, errs)
	}
	h.assertRunning(pod)
	pods, err := h.eng.List(h.ctx)
	if err != nil || len(pods) != 1 || pods[0].Name != pod {
		t.Errorf("ps: %+v %v, want the one pod", pods, err)
	}
}

// `down` from another compod process while `up` runs waits for the launch
// to end and then removes the pod, whichever step the launch was at:
// nothing is left, ps shows nothing, and the name can be used again.
func TestDownDuringUp(t *testing.T) {
	h := newHarness(t)
	pod := "racedown"
	plan := slowPod(h, pod)
	other := h.newEngine()
	for _, delay := range []time.Duration{0, 300 * time.Millisecond, 1200 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			upDone := make(chan error, 1)
			go func() {
				_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{Timeout: time.Minute})
				upDone <- err
			}()
			// The launch has begun once its record is there.
			waitFor(t, 10*time.Second, "the launch to begin", func() (bool, string) {
				_, err := other.Status(h.ctx, pod)
				return !errors.Is(err, runtime.ErrPodNotFound), fmt.Sprint(err)
			})
			time.Sleep(delay) // which step the launch is at when down comes
			ctx, cancel := context.WithTimeout(h.ctx, time.Minute)
			defer cancel()
			grace := time.Second
			downErr := other.Down(ctx, pod, runtime.DownOptions{Timeout: &grace})
			upErr := <-upDone
			if upErr != nil {
				t.Errorf("up: %v (down should have waited for the launch)", upErr)
			}
			if downErr != nil {
				t.Errorf("down during up: %v", downErr)
			}
			pods, err := h.eng.List(h.ctx)
			if err != nil || len(pods) != 0 {
				t.Errorf("ps after down: %+v %v, want nothing", pods, err)
			}
			h.assertNoLeak()
		})
	}
}

// The lock names its holder and is private to root.
func TestPodLockFile(t *testing.T) {
	h := newHarness(t)
	pod := "lockfile"
	plan := slowPod(h, pod)
	upDone := make(chan error, 1)
	go func() {
		_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{Timeout: time.Minute})
		upDone <- err
	}()
	other := h.newEngine()
	waitFor(t, 10*time.Second, "the launch to begin", func() (bool, string) {
		_, err := other.Status(h.ctx, pod)
		return !errors.Is(err, runtime.ErrPodNotFound), fmt.Sprint(err)
	})
	lock := h.stateDir + "/locks/" + pod + ".lock"
	fi, err := os.Stat(lock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want -rw-------", lock, fi.Mode())
	}
	b, _ := os.ReadFile(lock)
	if got := strings.TrimSpace(string(b)); got != fmt.Sprint(os.Getpid()) {
		t.Errorf("%s holds %q during the launch, want this process's pid %d", lock, got, os.Getpid())
	}
	if err := <-upDone; err != nil {
		t.Fatal(err)
	}
	h.down(pod)
}
