package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compod/compod/cni/cnitest"
)

// BenchmarkDensity is the density run of `make bench`: 50 three-service
// pods started at once (one `compod up -d` each, all in parallel) on the
// private containerd, then stopped at once. It reports per-pod start and
// stop p50 / p99, compod's own memory per running pod with all of them
// up (supervisors and log writers: PSS, so the binaries' shared pages
// are counted once across pods, as they cost the host), and fails if a
// pod does not come up or anything is left behind (containers, netns
// pins, IPAM reservations, iptables rules).
//
// BENCH_DENSITY_PODS sets the number of pods (default 50); BENCH_SHORT=1
// makes it 3 (CI: it proves the run works). The figures go to stdout and
// to $BENCH_DENSITY_JSON (default bench-density.json at the module root).
func BenchmarkDensity(b *testing.B) {
	pods := envCount(b, "BENCH_DENSITY_PODS", 50, 3)
	r := newRig(b)
	before := cnitest.Snapshot(b, r.stateDir)
	var rep densityReport
	for n := 0; n < b.N; n++ {
		rep = r.density(fmt.Sprintf("density%d-%d", os.Getpid()%100000, n), pods)
	}
	after := cnitest.Snapshot(b, r.stateDir)
	before.AssertNoLeak(b, after)

	rep.print()
	writeFigures(b, "BENCH_DENSITY_JSON", "bench-density.json", rep)
}

type densityReport struct {
	Pods     int       `json:"pods"`
	Services int       `json:"services_per_pod"`
	Time     time.Time `json:"time"`
	// The floor: as many bare containers as the pods have (services and
	// pause), `ctr run -d` all at once, then removed all at once.
	FloorUpMS   float64 `json:"floor_up_ms"`
	FloorDownMS float64 `json:"floor_down_ms"`
	AllUpMS     float64 `json:"all_up_ms"`
	StartP50MS  float64 `json:"start_p50_ms"`
	StartP99MS  float64 `json:"start_p99_ms"`
	AllDownMS   float64 `json:"all_down_ms"`
	StopP50MS   float64 `json:"stop_p50_ms"`
	StopP99MS   float64 `json:"stop_p99_ms"`
	PSSPerPodMB float64 `json:"pss_per_pod_mib"`
	Processes   int     `json:"compod_processes"`
}

func (rep densityReport) print() {
	fmt.Printf("\ndensity: %d pods of %d services started at once, then stopped at once\n\n", rep.Pods, rep.Services)
	fmt.Println("| figure | value |")
	fmt.Println("|---|---:|")
	fmt.Printf("| floor: `ctr run -d` of %d containers at once (wall) | %.0f ms |\n", rep.Pods*(rep.Services+1), rep.FloorUpMS)
	fmt.Printf("| all pods up (wall) | %.0f ms (%.2f× the floor) |\n", rep.AllUpMS, rep.AllUpMS/rep.FloorUpMS)
	fmt.Printf("| per-pod `up -d` p50 / p99 | %.0f ms / %.0f ms |\n", rep.StartP50MS, rep.StartP99MS)
	fmt.Printf("| floor: `ctr task rm -f` + `ctr c rm` of those containers at once (wall) | %.0f ms |\n", rep.FloorDownMS)
	fmt.Printf("| all pods down (wall) | %.0f ms (%.2f× the floor) |\n", rep.AllDownMS, rep.AllDownMS/rep.FloorDownMS)
	fmt.Printf("| per-pod `down` p50 / p99 | %.0f ms / %.0f ms |\n", rep.StopP50MS, rep.StopP99MS)
	fmt.Printf("| compod's own processes per running pod (PSS, %d processes in all) | %.1f MiB |\n", rep.Processes, rep.PSSPerPodMB)
}

// density starts pods pods of three services at once, checks that every
// one runs, measures memory, and stops them all at once.
func (r *rig) density(prefix string, pods int) densityReport {
	const services = 3
	ids := make([]string, pods)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-p%d", prefix, i)
		r.writeCompose(ids[i], services)
	}
	b := r.b
	// The floor first, in the same run.
	floorUp, floorDown := r.ctrRunRemoveAll(prefix+"-ctr", pods*(services+1))
	b.Cleanup(func() {
		_ = parallel(ids, func(pod string) error { return r.compodCmd("down", "-p", pod).Run() })
	})
	var mu sync.Mutex
	var ups, downs []time.Duration
	timed := func(into *[]time.Duration, cmd *exec.Cmd) error {
		start := time.Now()
		err := run(cmd)
		mu.Lock()
		*into = append(*into, time.Since(start))
		mu.Unlock()
		return err
	}
	start := time.Now()
	if err := parallel(ids, func(pod string) error {
		return timed(&ups, r.compodCmd("up", "-d", "-p", pod, "-f", r.composeFile(pod)))
	}); err != nil {
		b.Fatalf("%d pods up at once: %v", pods, err)
	}
	allUp := time.Since(start)
	r.assertRunning(ids, services)
	kb, procs := compodPSS(r.bin, r.stateDir)

	start = time.Now()
	if err := parallel(ids, func(pod string) error { return timed(&downs, r.compodCmd("down", "-p", pod)) }); err != nil {
		b.Fatalf("%d pods down at once: %v", pods, err)
	}
	allDown := time.Since(start)
	if out, err := r.compodCmd("ps", "--format", "json").Output(); err != nil || strings.Contains(string(out), prefix) {
		b.Errorf("after down, ps still lists pods of the run (%v):\n%s", err, out)
	}
	if out, err := r.ctr("c", "ls", "-q").Output(); err != nil || strings.Contains(string(out), prefix) {
		b.Errorf("after down, containers of the run are left (%v):\n%s", err, out)
	}
	slices.Sort(ups)
	slices.Sort(downs)
	return densityReport{
		FloorUpMS: ms(floorUp), FloorDownMS: ms(floorDown),
		Pods: pods, Services: services, Time: time.Now().UTC(),
		AllUpMS: ms(allUp), StartP50MS: ms(ups[len(ups)*50/100]), StartP99MS: ms(ups[len(ups)*99/100]),
		AllDownMS: ms(allDown), StopP50MS: ms(downs[len(downs)*50/100]), StopP99MS: ms(downs[len(downs)*99/100]),
		PSSPerPodMB: float64(kb) / 1024 / float64(pods), Processes: procs,
	}
}

// assertRunning fails the benchmark unless `compod ps` shows every pod
// running with all its services.
func (r *rig) assertRunning(ids []string, services int) {
	out, err := r.compodCmd("ps", "--format", "json").Output()
	if err != nil {
		r.b.Fatalf("compod ps: %v", err)
	}
	var st []struct {
		Name     string            `json:"name"`
		State    string            `json:"state"`
		Services []json.RawMessage `json:"services"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		r.b.Fatalf("compod ps --format json: %v\n%s", err, out)
	}
	running := map[string]bool{}
	for _, p := range st {
		if p.State == "running" && len(p.Services) == services {
			running[p.Name] = true
		}
	}
	for _, id := range ids {
		if !running[id] {
			r.b.Fatalf("pod %s is not running with %d services after its `up -d`:\n%s", id, services, out)
		}
	}
}
