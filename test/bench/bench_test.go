package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/executor"
	"github.com/compod/compod/internal/agentsim"
	"github.com/compod/compod/internal/testenv"
)

// BenchmarkFloor is `make bench`: compod against the floor, one bare
// containerd container started by `ctr run -d`, measured in the same run
// with rounds interleaved (each round measures every figure once, so a
// load that comes and goes on the shared host weighs on all of them
// alike). It prints a markdown table of min / p50 / p99 per figure with
// the ratio of its p50 to its reference's p50, and writes the figures as
// JSON ($BENCH_JSON, default bench.json at the module root).
//
// BENCH_ROUNDS sets the rounds (default 5); BENCH_SHORT=1 makes one round
// (CI: it proves the benchmark works, its figures mean nothing). Run it
// with -benchtime=1x: the rounds are its work.
func BenchmarkFloor(b *testing.B) {
	rounds := envCount(b, "BENCH_ROUNDS", 5, 1)
	r := newRig(b)
	for n := 0; n < b.N; n++ {
		for i := 0; i < rounds; i++ {
			r.round(fmt.Sprintf("perfbench%d-%d-%d", os.Getpid()%100000, n, i))
		}
	}
	rep := r.report(rounds)
	rep.print(os.Stdout)
	writeFigures(b, "BENCH_JSON", "bench.json", rep)
}

// envCount is the positive number in the environment variable name, else
// def; under BENCH_SHORT it is short.
func envCount(b *testing.B, name string, def, short int) int {
	if os.Getenv("BENCH_SHORT") != "" {
		return short
	}
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// writeFigures writes v as JSON to the file the environment variable env
// names, else to file at the module root.
func writeFigures(b *testing.B, env, file string, v any) {
	out := os.Getenv(env)
	if out == "" {
		out = filepath.Join(testenv.ModuleRoot(b), file)
	}
	data, _ := json.MarshalIndent(v, "", "  ")
	if err := os.WriteFile(out, append(data, '\n'), 0o644); err != nil {
		b.Fatalf("writing the figures: %v", err)
	}
	fmt.Printf("\nfigures written to %s\n", out)
}

// Figures, in the table's order; ref is the figure a ratio is taken to.
var figures = []struct{ key, what, ref string }{
	{"ctr-run", "floor: `ctr run -d`, 1 container", ""},
	{"ctr-run-10", "floor: `ctr run -d` ×10 in parallel", ""},
	{"ctr-rm", "floor: `ctr task rm -f` + `ctr c rm`, 1 container", ""},
	{"up-1", "`compod up -d`, 1 service", "ctr-run"},
	{"up-3", "`compod up -d`, 3 services", "ctr-run"},
	{"up-10", "`compod up -d`, 10 services", "ctr-run-10"},
	{"down-1", "`compod down`, 1 service (exits on SIGTERM)", "ctr-rm"},
	{"down-3", "`compod down`, 3 services", "ctr-rm"},
	{"down-10", "`compod down`, 10 services", "ctr-rm"},
	{"exec-running", "executor: LAUNCH → TASK_RUNNING, 1 service", "up-1"},
	{"exec-terminal", "executor: service exit → terminal update at the agent", ""},
}

// rig is what a round needs: the private containerd, the compod binary,
// the agent emulator, the record of task exits.
type rig struct {
	b        testing.TB
	ns       string
	bin      string // compod, copied where no other compod runs from
	stateDir string
	work     string
	agent    *agentsim.Agent
	exits    *testenv.ExitTimes

	times map[string][]time.Duration
	pss   []int64 // kB, compod's processes of a running 3-service pod
	procs []int
}

func newRig(b *testing.B) *rig {
	if os.Geteuid() != 0 {
		b.Skip("the floor benchmark needs root")
	}
	c := testenv.Client(b)
	testenv.EnsureImages(b, c)
	if _, err := exec.LookPath("ctr"); err != nil {
		b.Fatalf("ctr (Debian's containerd package) is needed for the floor: %v", err)
	}
	r := &rig{b: b, ns: testenv.Namespace, stateDir: b.TempDir(), work: b.TempDir(), times: map[string][]time.Duration{}}
	// The memory figure counts the processes running this very file.
	r.bin = filepath.Join(b.TempDir(), "compod")
	copyFile(b, testenv.CompodBinary(b), r.bin)
	a, err := agentsim.Start(context.Background(), agentsim.Config{
		WorkDir: b.TempDir(), Checkpoint: true, RecoveryTimeout: 20 * time.Second,
		SubscriptionBackoffMax: 2 * time.Second, CgroupRoot: agentsim.DefaultCgroupRoot,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Close() })
	r.agent = a
	r.exits = testenv.WatchExits(b)
	return r
}

func (r *rig) add(key string, d time.Duration) { r.times[key] = append(r.times[key], d) }

// round measures every figure once.
func (r *rig) round(prefix string) {
	up, rm := r.ctrRun(prefix+"-ctr", 1)
	r.add("ctr-run", up)
	r.add("ctr-rm", rm)
	up, _ = r.ctrRun(prefix+"-ctr10", 10)
	r.add("ctr-run-10", up)
	for _, n := range []int{1, 3, 10} {
		pod := fmt.Sprintf("%s-up%d", prefix, n)
		r.add(fmt.Sprintf("up-%d", n), r.compod("up", pod, n))
		if n == 3 {
			kb, procs := compodPSS(r.bin, r.stateDir)
			r.pss = append(r.pss, kb)
			r.procs = append(r.procs, procs)
		}
		r.add(fmt.Sprintf("down-%d", n), r.compod("down", pod, n))
	}
	running, terminal := r.executorTask(prefix + "-exec")
	r.add("exec-running", running)
	r.add("exec-terminal", terminal)
}

func (r *rig) ctr(args ...string) *exec.Cmd {
	return exec.Command("ctr", append([]string{"--address", testenv.Address(), "-n", r.ns}, args...)...)
}

// ctrRun times n `ctr run -d` in parallel, then, for one container, the
// forced removal of its task and container.
func (r *rig) ctrRun(prefix string, n int) (up, rm time.Duration) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	r.b.Cleanup(func() {
		for _, id := range ids {
			_ = r.ctr("task", "rm", "-f", id).Run()
			_ = r.ctr("c", "rm", id).Run()
		}
	})
	start := time.Now()
	errs := parallel(ids, func(id string) error {
		return run(r.ctr("run", "-d", testenv.BusyboxRef, id, "busybox", "sleep", "3600"))
	})
	up = time.Since(start)
	if errs != nil {
		r.b.Fatalf("ctr run -d: %v", errs)
	}
	if n == 1 {
		start = time.Now()
		if err := run(r.ctr("task", "rm", "-f", ids[0])); err != nil {
			r.b.Fatal(err)
		}
		if err := run(r.ctr("c", "rm", ids[0])); err != nil {
			r.b.Fatal(err)
		}
		return up, time.Since(start)
	}
	if errs := parallel(ids, func(id string) error {
		if err := run(r.ctr("task", "rm", "-f", id)); err != nil {
			return err
		}
		return run(r.ctr("c", "rm", id))
	}); errs != nil {
		r.b.Fatalf("removing the ctr containers: %v", errs)
	}
	return up, 0
}

// ctrRunRemoveAll times n `ctr run -d` at once, then the forced removal
// of all of them at once.
func (r *rig) ctrRunRemoveAll(prefix string, n int) (up, rm time.Duration) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	r.b.Cleanup(func() {
		_ = parallel(ids, func(id string) error {
			_ = r.ctr("task", "rm", "-f", id).Run()
			return r.ctr("c", "rm", id).Run()
		})
	})
	start := time.Now()
	if err := parallel(ids, func(id string) error {
		return run(r.ctr("run", "-d", testenv.BusyboxRef, id, "busybox", "sleep", "3600"))
	}); err != nil {
		r.b.Fatalf("ctr run -d: %v", err)
	}
	up = time.Since(start)
	start = time.Now()
	if err := parallel(ids, func(id string) error {
		if err := run(r.ctr("task", "rm", "-f", id)); err != nil {
			return err
		}
		return run(r.ctr("c", "rm", id))
	}); err != nil {
		r.b.Fatalf("removing the ctr containers: %v", err)
	}
	return up, time.Since(start)
}

// compod times `compod up -d` (op "up") of a pod of n services that exit
// at once on SIGTERM, or its `compod down` (op "down").
func (r *rig) compod(op, pod string, n int) time.Duration {
	file := r.composeFile(pod)
	if op == "up" {
		r.writeCompose(pod, n)
		r.b.Cleanup(func() { _ = r.compodCmd("down", "-p", pod).Run() })
	}
	args := []string{op, "-p", pod, "-f", file}
	if op == "up" {
		args = append(args, "-d")
	}
	start := time.Now()
	if err := run(r.compodCmd(args...)); err != nil {
		r.b.Fatalf("compod %s: %v", op, err)
	}
	return time.Since(start)
}

func (r *rig) composeFile(pod string) string { return filepath.Join(r.work, pod, "compose.yaml") }

// writeCompose writes the compose file of a pod of n services that exit
// at once on SIGTERM.
func (r *rig) writeCompose(pod string, n int) {
	var y strings.Builder
	y.WriteString("services:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&y, "  s%d:\n    image: %s\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; busybox sleep 3600 & wait\"]\n", i, testenv.BusyboxRef)
	}
	if err := os.MkdirAll(filepath.Dir(r.composeFile(pod)), 0o755); err != nil {
		r.b.Fatal(err)
	}
	if err := os.WriteFile(r.composeFile(pod), []byte(y.String()), 0o644); err != nil {
		r.b.Fatal(err)
	}
}

func (r *rig) compodCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(r.bin, args...)
	cmd.Env = append(os.Environ(), "CONTAINERD_ADDRESS="+testenv.Address(), "CONTAINERD_NAMESPACE="+r.ns,
		"COMPOD_STATE_DIR="+r.stateDir, "COMPOD_CNI_BIN_DIR=/usr/lib/cni:/opt/cni/bin")
	return cmd
}

// executorTask launches a compod executor with a one-service task whose
// service exits with code 3 after a few seconds, and returns LAUNCH →
// TASK_RUNNING at the agent and service exit (containerd's exit time) →
// TASK_FAILED at the agent. It returns once the executor has exited.
func (r *rig) executorTask(prefix string) (running, terminal time.Duration) {
	b := r.b
	compose := fmt.Sprintf("services:\n  side:\n    image: %s\n    command: [\"sh\", \"-c\", \"busybox sleep 4; exit 3\"]\n", testenv.BusyboxRef)
	src := filepath.Join(r.work, prefix+".yml")
	if err := os.WriteFile(src, []byte(compose), 0o644); err != nil {
		b.Fatal(err)
	}
	out := "docker-compose.yml"
	env := map[string]string{
		"CONTAINERD_ADDRESS": testenv.Address(), "CONTAINERD_NAMESPACE": r.ns,
		"COMPOD_STATE_DIR": filepath.Join(r.stateDir, "executor"), "COMPOD_CNI_BIN_DIR": "/usr/lib/cni:/opt/cni/bin",
	}
	var vars []mesos.Environment_Variable
	for k, v := range env {
		vars = append(vars, mesos.Environment_Variable{Name: k, Value: &v})
	}
	shell := false
	taskID := fmt.Sprintf("%s.%d", prefix, time.Now().UnixNano())
	info := &mesos.ExecutorInfo{
		Type:       mesos.ExecutorInfo_CUSTOM,
		ExecutorID: mesos.ExecutorID{Value: "compod-" + taskID},
		Command: &mesos.CommandInfo{Shell: &shell, Value: &r.bin, Arguments: []string{r.bin, "executor"},
			URIs: []mesos.CommandInfo_URI{{Value: src, OutputFile: &out}}, Environment: &mesos.Environment{Variables: vars}},
		Resources: []mesos.Resource{scalar("cpus", 0.1), scalar("mem", 32)},
	}
	fname := out
	task := mesos.TaskInfo{Name: prefix, TaskID: mesos.TaskID{Value: taskID},
		Resources: []mesos.Resource{scalar("cpus", 0.5), scalar("mem", 256)},
		Labels:    &mesos.Labels{Labels: []mesos.Label{{Key: executor.LabelFileName, Value: &fname}}}}
	checkpoint := true
	fw := mesos.FrameworkInfo{User: "root", Name: "compod-bench", Checkpoint: &checkpoint,
		ID: &mesos.FrameworkID{Value: fmt.Sprintf("fw-bench-%d", time.Now().UnixNano())}}
	pod := executor.PodName(fw.ID.Value, taskID)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	ex, err := r.agent.LaunchExecutor(ctx, info, fw, task)
	if err != nil {
		b.Fatal(err)
	}
	st, err := ex.WaitState(ctx, taskID, mesos.TASK_RUNNING, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_FINISHED)
	if err != nil || st.GetState() != mesos.TASK_RUNNING {
		b.Fatalf("executor task %s: %v %v %q", taskID, err, st.GetState(), st.GetMessage())
	}
	if st, err = ex.WaitState(ctx, taskID, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_FINISHED); err != nil || st.GetState() != mesos.TASK_FAILED {
		b.Fatalf("executor task %s: %v %v %q", taskID, err, st.GetState(), st.GetMessage())
	}
	for _, rec := range ex.Records() {
		switch rec.Status.GetState() {
		case mesos.TASK_RUNNING:
			if running == 0 {
				running = rec.Received.Sub(start)
			}
		case mesos.TASK_FAILED:
			exited, ok := r.exits.Get(pod + "_side")
			if !ok {
				b.Fatalf("no exit event for pod %s", pod)
			}
			terminal = rec.Received.Sub(exited)
		}
	}
	if exit, err := ex.Wait(ctx); err != nil || exit.Forced {
		b.Fatalf("executor of %s did not exit by itself: %+v %v", taskID, exit, err)
	}
	return running, terminal
}

// compodPSS sums the proportional set size of compod's own processes —
// those running bin (the pods' supervisors) or the log writer compod
// installs in the state dir — and counts them.
func compodPSS(bin, stateDir string) (kB int64, procs int) {
	logger := filepath.Join(stateDir, "bin", "compod-logger") // -<hash of the binary>
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err != nil || (exe != bin && !strings.HasPrefix(exe, logger)) {
			continue
		}
		f, err := os.Open(filepath.Join("/proc", e.Name(), "smaps_rollup"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "Pss:" {
				n, _ := strconv.ParseInt(fields[1], 10, 64)
				kB += n
				procs++
			}
		}
		f.Close()
	}
	return kB, procs
}

// figure is one row of the report.
type figure struct {
	Key      string  `json:"key"`
	What     string  `json:"what"`
	N        int     `json:"n"`
	MinMS    float64 `json:"min_ms"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	Ref      string  `json:"ref,omitempty"`
	RatioP50 float64 `json:"ratio_p50,omitempty"`
}

type report struct {
	Rounds  int       `json:"rounds"`
	Time    time.Time `json:"time"`
	Figures []figure  `json:"figures"`
	// PSS of compod's own processes per running 3-service pod.
	PSSMiBP50 float64 `json:"pss_mib_p50"`
	PSSMiBMax float64 `json:"pss_mib_max"`
	PSSProcs  int     `json:"pss_processes"`
}

func (r *rig) report(rounds int) report {
	rep := report{Rounds: rounds, Time: time.Now().UTC()}
	p50 := map[string]time.Duration{}
	for _, f := range figures {
		d := slices.Clone(r.times[f.key])
		if len(d) == 0 {
			continue
		}
		slices.Sort(d)
		fig := figure{Key: f.key, What: f.what, N: len(d), MinMS: ms(d[0]), P50MS: ms(d[len(d)*50/100]), P99MS: ms(d[len(d)*99/100]), Ref: f.ref}
		p50[f.key] = d[len(d)*50/100]
		if ref, ok := p50[f.ref]; ok && ref > 0 {
			fig.RatioP50 = float64(p50[f.key]) / float64(ref)
		}
		rep.Figures = append(rep.Figures, fig)
	}
	if len(r.pss) > 0 {
		kb := slices.Clone(r.pss)
		slices.Sort(kb)
		rep.PSSMiBP50 = float64(kb[len(kb)/2]) / 1024
		rep.PSSMiBMax = float64(kb[len(kb)-1]) / 1024
		rep.PSSProcs = slices.Max(r.procs)
	}
	return rep
}

func (rep report) print(w io.Writer) {
	fmt.Fprintf(w, "\n%d rounds, interleaved; ratio = p50 / the reference's p50 in this run\n\n", rep.Rounds)
	fmt.Fprintln(w, "| figure | n | min | p50 | p99 | ratio (p50) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---|")
	byKey := map[string]string{}
	for _, f := range rep.Figures {
		byKey[f.Key] = f.What
	}
	for _, f := range rep.Figures {
		ratio := ""
		if f.RatioP50 > 0 {
			ratio = fmt.Sprintf("%.2f× %s", f.RatioP50, strings.TrimPrefix(byKey[f.Ref], "floor: "))
		}
		fmt.Fprintf(w, "| %s | %d | %.0f ms | %.0f ms | %.0f ms | %s |\n", f.What, f.N, f.MinMS, f.P50MS, f.P99MS, ratio)
	}
	if rep.PSSProcs > 0 {
		fmt.Fprintf(w, "| compod's own processes per running 3-service pod (PSS; %d processes) | | | %.1f MiB | %.1f MiB (max) | |\n",
			rep.PSSProcs, rep.PSSMiBP50, rep.PSSMiBMax)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func scalar(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
}

// run runs cmd; its error carries the command's output.
func run(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// parallel runs f for every id at once and joins the errors.
func parallel(ids []string, f func(string) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(id); err != nil {
				mu.Lock()
				errs = append(errs, err.Error())
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func copyFile(b testing.TB, from, to string) {
	data, err := os.ReadFile(from)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o755); err != nil {
		b.Fatal(err)
	}
}
