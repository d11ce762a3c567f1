package runtime_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// soakCycles is the default number of up/down cycles of TestSoak: what `make
// test` (CI) runs. `make soak` runs many more (COMPOD_SOAK_CYCLES).
const soakCycles = 50

// Bounds on the growth of compod's memory (this process) from the end of
// the warm-up (the first tenth of the cycles) to the end of the last, each
// a base plus an amount per cycle: the base absorbs noise, the per-cycle
// part lets a long run (make soak) catch a leak too small to show in 50
// cycles. The warm-up matters under the race detector (make test): its
// shadow memory makes RSS fall at the first forced GC and climb back over
// the next few cycles (153 → 182 MiB by cycle 5, then 185 MiB at cycle 50
// in one CI run), while the heap stays flat.
//
// Measured on the 2-core test box, busy with other test runs (RSS and heap
// after a forced GC):
//
//	cycles  time    RSS after cycle 1 → end   heap in use    goroutines
//	    50    39s   41.6 → 43.3 MiB (+1.7)    18.2 → 18.6    12 → 12
//	   500  6m53s   43.1 → 45.2 MiB (+2.1)    18.3 → 19.0    12 → 12
//
// RSS drifts by ~2 MiB whatever the count; the heap stays flat. So RSS may
// grow by 20 MiB + 20 KiB a cycle (10× what was measured: "unreasonable"
// growth), and the heap, which is precise, by 4 MiB + 4 KiB a cycle: a
// leak of 10 KiB a cycle (a pod record, say) fails a 500-cycle run.
const (
	soakRSSBase      = 20 << 20
	soakRSSPerCycle  = 20 << 10
	soakHeapBase     = 4 << 20
	soakHeapPerCycle = 4 << 10
)

// TestSoak runs one 3-service pod up and down COMPOD_SOAK_CYCLES times
// (default soakCycles), under the same name every time: each cycle must
// start the pod, serve through its published port and remove it so fully
// that the next cycle can use the name and port again. At the end nothing
// may be left on the host (the harness's leak check) and the memory of
// compod (this process: the engine runs in it, as in `compod up` and the
// executor) must not have grown with the number of cycles.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: integration test (root and the private containerd)")
	}
	cycles := soakCycles
	if v := os.Getenv("COMPOD_SOAK_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("COMPOD_SOAK_CYCLES=%q: want a positive number", v)
		}
		cycles = n
	}
	// Warnings and errors only: the test log is kept in memory until the
	// test ends, and debug lines of hundreds of cycles would be counted as
	// compod's memory.
	h := newHarness(t, runtime.WithLogger(slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	const pod = "soak"
	shimsBefore := shimIDs(t, pod)
	port := freeLoopbackPort(t)
	plan := h.compose(pod, fmt.Sprintf(`
services:
  web:
    image: %[1]s
    command: ["-listen", ":8080"]
    environment:
      TESTAPP_GREETING: soak
    ports:
      - "127.0.0.1:%[3]d:8080"
  writer:
    image: %[2]s
    command: ["sh", "-c", "trap 'exit 0' TERM; echo up > /data/msg; while :; do sleep 1 & wait $$!; done"]
    volumes: ["shared:/data"]
  reader:
    image: %[2]s
    depends_on: [web, writer]
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do cat /data/msg; sleep 1 & wait $$!; done"]
    volumes: ["shared:/data:ro"]
volumes:
  shared: {}
`, testenv.TestappRef, testenv.BusyboxRef, port), nil)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	// Keep-alive would hold a connection to the pod of the previous cycle.
	httpc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}

	start := memNow(t)
	warmup := max(cycles/10, 1)
	var warm memFigures
	var loggersFirst, loggersLast loggerFigures
	ups := make([]time.Duration, 0, cycles)
	downs := make([]time.Duration, 0, cycles)
	began := time.Now()
	for i := 1; i <= cycles; i++ {
		t0 := time.Now()
		h.up(plan)
		ups = append(ups, time.Since(t0))
		st, err := h.eng.Status(h.ctx, pod)
		if err != nil {
			t.Fatalf("cycle %d: status: %v", i, err)
		}
		if st.State != runtime.PhaseRunning || len(st.Services) != 3 {
			t.Fatalf("cycle %d: status %+v, want running with 3 services", i, st)
		}
		waitFor(t, 15*time.Second, fmt.Sprintf("cycle %d: web through the published port", i), func() (bool, string) {
			resp, err := httpc.Get(url)
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode == 200 && strings.Contains(string(b), "soak"), resp.Status + " " + string(b)
		})
		lf := shimLoggers(t, h.stateDir)
		if i == 1 {
			// Also shows that shimLoggers finds them, so that "none left"
			// at the end means something.
			if lf.count != len(plan.Services) {
				t.Errorf("cycle 1: %d shim-loggers of the pod, want one per service (%d)", lf.count, len(plan.Services))
			}
			loggersFirst = lf
		}
		loggersLast = lf

		t0 = time.Now()
		grace := 5 * time.Second // the services exit on SIGTERM: grace is not waited for
		if err := h.eng.Down(h.ctx, pod, runtime.DownOptions{Timeout: &grace}); err != nil {
			t.Fatalf("cycle %d: down: %v", i, err)
		}
		downs = append(downs, time.Since(t0))
		if i == warmup {
			warm = memNow(t)
		}
		if i%max(cycles/10, 1) == 0 || i == cycles {
			m := memNow(t)
			t.Logf("cycle %d/%d: %v elapsed; compod RSS %s (peak %s), heap %s, %d goroutines",
				i, cycles, time.Since(began).Round(time.Second), mib(m.rss), mib(m.hwm), mib(m.heap), m.goroutines)
		}
	}
	elapsed := time.Since(began)
	h.assertNoLeak()

	end := memNow(t)
	growth := end.rss - warm.rss
	bound := int64(soakRSSBase + soakRSSPerCycle*cycles)
	heapGrowth := end.heap - warm.heap
	heapBound := int64(soakHeapBase + soakHeapPerCycle*cycles)
	slices.Sort(ups)
	slices.Sort(downs)
	t.Logf("%d cycles in %v: up p50 %v max %v, down p50 %v max %v",
		cycles, elapsed.Round(time.Second), ups[len(ups)/2].Round(time.Millisecond), ups[len(ups)-1].Round(time.Millisecond),
		downs[len(downs)/2].Round(time.Millisecond), downs[len(downs)-1].Round(time.Millisecond))
	t.Logf("compod RSS: start %s, after cycle %d %s, end %s (growth %s since cycle %d, bound %s); peak (VmHWM) %s; heap %s → %s (bound +%s); goroutines %d → %d → %d",
		mib(start.rss), warmup, mib(warm.rss), mib(end.rss), mib(growth), warmup, mib(bound), mib(end.hwm), mib(warm.heap), mib(end.heap), mib(heapBound),
		start.goroutines, warm.goroutines, end.goroutines)
	t.Logf("shim-logger RSS: cycle 1: %d loggers, VmRSS max %s, RssAnon %s in all; cycle %d: %d loggers, VmRSS max %s, RssAnon %s in all",
		loggersFirst.count, mib(loggersFirst.max), mib(loggersFirst.anon), cycles, loggersLast.count, mib(loggersLast.max), mib(loggersLast.anon))
	// One line for the CI log and for comparing runs.
	fmt.Printf("soak: %d cycles in %v (%.2fs/cycle); compod RSS %s → %s (growth %s, bound %s), peak %s; heap %s → %s (bound +%s); goroutines %d → %d; %d shim-loggers, VmRSS ≤ %s\n",
		cycles, elapsed.Round(time.Second), elapsed.Seconds()/float64(cycles), mib(warm.rss), mib(end.rss), mib(growth), mib(bound), mib(end.hwm),
		mib(warm.heap), mib(end.heap), mib(heapBound), warm.goroutines, end.goroutines, loggersLast.count, mib(loggersLast.max))
	if growth > bound {
		t.Errorf("compod's RSS grew by %s over %d cycles (after the warm-up), more than %s: a leak", mib(growth), cycles-warmup, mib(bound))
	}
	if heapGrowth > heapBound {
		t.Errorf("compod's heap grew by %s over %d cycles (after the warm-up), more than %s: a leak", mib(heapGrowth), cycles-warmup, mib(heapBound))
	}
	// Every goroutine of a pod (supervisor, event stream, probes) ends with
	// Down; a few may still be finishing (gRPC stream teardown).
	if end.goroutines > warm.goroutines+5 {
		t.Errorf("goroutines: %d after the warm-up, %d after the last: a leak\n%s", warm.goroutines, end.goroutines, allStacks())
	}
	// Processes are not in the harness's leak check: the shims and their
	// loggers exit once their task is deleted (shortly after Down returns).
	waitFor(t, 10*time.Second, "the pod's shims and shim-loggers to exit", func() (bool, string) {
		loggers := shimLoggers(t, h.stateDir)
		shims := slices.DeleteFunc(shimIDs(t, pod), func(id string) bool { return slices.Contains(shimsBefore, id) })
		return loggers.count == 0 && len(shims) == 0, fmt.Sprintf("%d shim-loggers, shims %v", loggers.count, shims)
	})
}

type memFigures struct {
	rss, hwm, heap int64 // bytes
	goroutines     int
}

// memNow reads this process's resident set (VmRSS) and its peak (VmHWM)
// after a GC that returns freed memory to the kernel, so that the figure is
// what compod holds, not garbage that a later GC would have freed.
func memNow(t *testing.T) memFigures {
	t.Helper()
	debug.FreeOSMemory()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	st, err := procStatus("self")
	if err != nil {
		t.Fatal(err)
	}
	return memFigures{rss: st["VmRSS"], hwm: st["VmHWM"], heap: int64(ms.HeapInuse), goroutines: goruntime.NumGoroutine()}
}

// procStatus reads the kB fields of /proc/<pid>/status, in bytes.
func procStatus(pid string) (map[string]int64, error) {
	f, err := os.Open(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(v)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			out[k] = n << 10
		}
	}
	return out, sc.Err()
}

type loggerFigures struct {
	count int
	// max is the largest VmRSS; anon sums RssAnon, the memory each
	// logger has of its own (VmRSS also counts the compod binary's pages,
	// which the loggers share).
	max, anon int64
}

// shimLoggers finds the log writers (`<writer> shim-logger <log file> …`,
// pairs in any order) the containerd shim runs for the services of this
// test's engine.
func shimLoggers(t *testing.T, stateDir string) loggerFigures {
	t.Helper()
	var out loggerFigures
	for _, pid := range procsWhere(func(args []string) bool {
		if len(args) < 3 || !runtime.IsShimLogger(args[1:]) {
			return false
		}
		i := slices.Index(args, "shim-logger")
		return i > 0 && i+1 < len(args) && strings.HasPrefix(args[i+1], stateDir+"/")
	}) {
		st, err := procStatus(pid)
		if err != nil {
			continue // exited meanwhile
		}
		out.count++
		out.anon += st["RssAnon"]
		out.max = max(out.max, st["VmRSS"])
	}
	return out
}

// shimIDs lists the container ids of the running containerd shims of the
// pod's containers (<pod>_<service>) in the test namespace.
func shimIDs(t *testing.T, pod string) []string {
	t.Helper()
	var out []string
	procsWhere(func(args []string) bool {
		if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			return false
		}
		if i := slices.Index(args, "-namespace"); i < 0 || i+1 >= len(args) || args[i+1] != testenv.Namespace {
			return false
		}
		if i := slices.Index(args, "-id"); i >= 0 && i+1 < len(args) && strings.HasPrefix(args[i+1], pod+"_") {
			out = append(out, args[i+1])
		}
		return false
	})
	return out
}

// procsWhere returns the pids whose command line matches.
func procsWhere(match func(args []string) bool) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		if match(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")) {
			out = append(out, e.Name())
		}
	}
	return out
}

func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:goruntime.Stack(buf, true)])
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
