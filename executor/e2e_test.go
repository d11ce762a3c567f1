package executor

// End-to-end tests: the real compod binary is the executor, launched by the
// Mesos agent emulator (internal/agentsim) exactly as an agent with cgroups
// isolation launches a custom executor: compose files fetched into the
// sandbox from ExecutorInfo.command.uris, MESOS_* environment, running in
// /mesos/<container-id>, talking the v1 executor HTTP API. Everything else
// is real: the private containerd of hack/containerd.sh, runc, CNI, the
// runtime engine and translate. They need root.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/cgroups"
	"github.com/compod/compod/cni/cnitest"
	"github.com/compod/compod/internal/agentsim"
	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

type e2e struct {
	t        testing.TB
	agent    *agentsim.Agent
	cfg      agentsim.Config
	c        *client.Client
	bin      string
	stateDir string
	src      string   // where the "artifact store" keeps the compose files
	pods     []string // names of this test's pods
	cniSnap  cnitest.State
	exs      []*agentsim.Executor
	// env is added to the executor's environment (COMPOD_CONFIG, ...).
	env map[string]string
}

type e2eOpts struct {
	checkpoint bool
	grace      time.Duration // the agent's --executor_shutdown_grace_period
	ns         agentsim.Namespaces
}

// isolations are the agent isolator sets the executor is tested under
// (docs/mesos.md lists them with their agent flags): cgroups only, then
// with filesystem/linux (a mount namespace of the executor's own, / rslave),
// then also namespaces/pid (a PID namespace and /proc of its own).
var isolations = []struct {
	name string
	ns   agentsim.Namespaces
}{
	{"cgroups", agentsim.Namespaces{}},
	{"filesystem_linux", agentsim.Namespaces{Mount: true}},
	{"filesystem_linux+pid", agentsim.Namespaces{Mount: true, PID: true}},
}

// eachIsolation runs a scenario once per isolator set.
func eachIsolation(t *testing.T, o e2eOpts, scenario func(t *testing.T, e *e2e)) {
	for _, iso := range isolations {
		t.Run(iso.name, func(t *testing.T) {
			o := o
			o.ns = iso.ns
			scenario(t, newE2E(t, o))
		})
	}
}

func newE2E(t testing.TB, o e2eOpts) *e2e {
	if os.Geteuid() != 0 {
		t.Skip("end-to-end executor tests need root")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	c := testenv.Client(t)
	testenv.EnsureImages(t, c)
	e := &e2e{t: t, c: c, bin: testenv.CompodBinary(t), stateDir: t.TempDir(), src: t.TempDir()}
	e.cniSnap = cnitest.Snapshot(t, e.stateDir)
	e.cfg = agentsim.Config{
		WorkDir:                t.TempDir(),
		Checkpoint:             o.checkpoint,
		RecoveryTimeout:        20 * time.Second,
		SubscriptionBackoffMax: 2 * time.Second,
		ShutdownGracePeriod:    o.grace,
		CgroupRoot:             agentsim.DefaultCgroupRoot,
		Namespaces:             o.ns,
	}
	if testing.Verbose() {
		e.cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	a, err := agentsim.Start(context.Background(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.agent = a
	t.Cleanup(e.cleanup)
	return e
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// launch launches the compod executor for task, with files (sandbox path →
// content) served as URIs the agent fetches into the sandbox.
func (e *e2e) launch(task mesos.TaskInfo, files map[string]string) *agentsim.Executor {
	e.t.Helper()
	var uris []mesos.CommandInfo_URI
	for name, content := range files {
		src := filepath.Join(e.src, strings.ReplaceAll(name, "/", "_"))
		if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
			e.t.Fatal(err)
		}
		out := name
		uris = append(uris, mesos.CommandInfo_URI{Value: src, OutputFile: &out})
	}
	env := map[string]string{
		"CONTAINERD_ADDRESS":   testenv.Address(),
		"CONTAINERD_NAMESPACE": testenv.Namespace,
		"COMPOD_STATE_DIR":     e.stateDir,
		"COMPOD_CNI_BIN_DIR":   "/usr/lib/cni:/opt/cni/bin",
		"COMPOD_LOG_LEVEL":     "debug",
	}
	for k, v := range e.env {
		env[k] = v
	}
	var vars []mesos.Environment_Variable
	for k, v := range env {
		vars = append(vars, mesos.Environment_Variable{Name: k, Value: &v})
	}
	shell := false
	info := &mesos.ExecutorInfo{
		Type:       mesos.ExecutorInfo_CUSTOM,
		ExecutorID: mesos.ExecutorID{Value: "compod-" + task.TaskID.Value},
		Command: &mesos.CommandInfo{Shell: &shell, Value: &e.bin, Arguments: []string{e.bin, "executor"},
			URIs: uris, Environment: &mesos.Environment{Variables: vars}},
		Resources: []mesos.Resource{scalarRes("cpus", 0.1), scalarRes("mem", 32)},
	}
	fw := mesos.FrameworkInfo{User: "root", Name: "compod-e2e", Checkpoint: &e.cfg.Checkpoint,
		ID: &mesos.FrameworkID{Value: fmt.Sprintf("fw-e2e-%d", time.Now().UnixNano())}}
	e.pods = append(e.pods, PodName(fw.ID.Value, task.TaskID.Value))
	ex, err := e.agent.LaunchExecutor(ctxFor(e.t, 20*time.Second), info, fw, task)
	if err != nil {
		e.t.Fatal(err)
	}
	e.exs = append(e.exs, ex)
	return ex
}

func scalarRes(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
}

// taskInfo makes a TaskInfo naming compose files (the fileName label) with
// host ports; the id is made unique (tests share the containerd namespace).
func taskInfo(prefix string, files []string, ports [][2]uint64) mesos.TaskInfo {
	id := fmt.Sprintf("%s.%d", prefix, time.Now().UnixNano())
	info := mesos.TaskInfo{Name: prefix, TaskID: mesos.TaskID{Value: id},
		Resources: []mesos.Resource{scalarRes("cpus", 0.5), scalarRes("mem", 256)}}
	if len(files) > 0 {
		info.Labels = &mesos.Labels{Labels: []mesos.Label{label(LabelFileName, strings.Join(files, ","))}}
	}
	if len(ports) > 0 {
		info.Resources = append(info.Resources, portsResource(ports...))
	}
	return info
}

func (e *e2e) cleanup() {
	for _, ex := range e.exs {
		if _, err := ex.Wait(ctxFor(e.t, 100*time.Millisecond)); err != nil {
			e.t.Errorf("executor %s still running at the end of the test", ex.ID())
		}
		if e.t.Failed() && ex.Sandbox() != "" {
			b, _ := os.ReadFile(filepath.Join(ex.Sandbox(), "stderr"))
			e.t.Logf("executor %s stderr:\n%s", ex.ID(), b)
			for _, r := range ex.Records() {
				e.t.Logf("status: %s %v %v %q resent=%v dup=%v", r.Status.TaskID.Value, r.Status.GetState(), r.Status.GetSource(),
					r.Status.GetMessage(), r.Resent, r.Duplicate)
			}
		}
	}
	_ = e.agent.Close() // destroys any executor left (after the check above)
	ctx := ctxFor(e.t, 30*time.Second)
	for _, ex := range e.exs {
		_, _ = ex.Wait(ctx)
	}
	e.assertNoLeak()
}

// containers lists the containers of this test's pods (other tests may
// run pods in the same namespace at the same time).
func (e *e2e) containers() []string {
	ctx := testenv.Context(e.t)
	ctrs, err := e.c.Containers(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, c := range ctrs {
		labels, err := c.Labels(ctx)
		if err != nil {
			continue
		}
		if slices.Contains(e.pods, labels[runtime.LabelPod]) {
			out = append(out, c.ID())
		}
	}
	return out
}

func (e *e2e) assertNoLeak() {
	e.t.Helper()
	for _, id := range e.containers() {
		e.t.Errorf("leaked container %s", id)
	}
	e.assertNoCNILeak()
	if ents, _ := os.ReadDir(filepath.Join(e.stateDir, "pods")); len(ents) > 0 {
		e.t.Errorf("leaked pod state: %v", ents)
	}
	// runc made /mesos/<cid> in the hierarchies the agent does not manage;
	// the executor must have removed it (the agent removes its own).
	hs, _ := cgroups.Hierarchies()
	for _, ex := range e.exs {
		if ex.ContainerID() == "" {
			continue
		}
		for _, h := range hs {
			d := filepath.Join(h.Mount, "mesos", ex.ContainerID())
			if _, err := os.Stat(d); err == nil {
				e.t.Errorf("leaked cgroup %s", d)
			}
		}
	}
}

// assertNoCNILeak is cnitest's AssertNoLeak restricted to this test's pods
// (their names and IPs): other tests may set up and tear down pods on the
// same host meanwhile. Veths cannot be told apart; a pod's veth goes with
// its netns, whose pin is checked.
func (e *e2e) assertNoCNILeak() {
	e.t.Helper()
	keys := append([]string(nil), e.pods...)
	for _, ex := range e.exs {
		for _, r := range ex.Records() {
			if ip := labelValue(r.Status, "compod.ip"); ip != "" && !slices.Contains(keys, ip) {
				keys = append(keys, ip)
			}
		}
	}
	ours := func(x string) bool {
		for _, k := range keys {
			if strings.Contains(x, k) {
				return true
			}
		}
		return false
	}
	var leaks []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		after := cnitest.Snapshot(e.t, e.stateDir)
		leaks = nil
		for _, kind := range []struct {
			name          string
			before, after []string
			all           bool
		}{
			{"netns pin", e.cniSnap.NetNS, after.NetNS, false},
			{"IPAM reservation", e.cniSnap.IPAM, after.IPAM, false},
			{"libcni cache entry", e.cniSnap.Cache, after.Cache, true}, // under our state dir
			{"iptables rule", e.cniSnap.Rules, after.Rules, false},
		} {
			for _, x := range kind.after {
				if !slices.Contains(kind.before, x) && (kind.all || ours(x)) {
					leaks = append(leaks, kind.name+": "+x)
				}
			}
		}
		if len(leaks) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(leaks) > 0 {
		e.t.Errorf("leaked CNI state:\n%s", strings.Join(leaks, "\n"))
	}
}

// assertReleasedAtTerminal checks what the terminal update promises the
// next task on the agent: the pod's IP is back in the pool (no host-local
// reservation names it) and its host ports are no longer claimed. The rest
// of the removal may still be under way (assertRemovedAtExit).
func (e *e2e) assertReleasedAtTerminal(terminal mesos.TaskStatus) {
	e.t.Helper()
	ip := labelValue(terminal, "compod.ip")
	if ip == "" {
		e.t.Fatalf("terminal update carries no compod.ip label: %v", terminal.Labels)
	}
	for _, f := range cnitest.Snapshot(e.t, e.stateDir).IPAM {
		if filepath.Base(f) == ip {
			e.t.Errorf("the pod's IP %s is still reserved (%s) when the terminal update arrives", ip, f)
		}
	}
	var ports []string
	for _, l := range terminal.GetLabels().GetLabels() {
		if strings.HasPrefix(l.Key, "compod.port.") {
			proto := l.Key[strings.LastIndex(l.Key, "/")+1:]
			ports = append(ports, proto+"-"+l.GetValue())
		}
	}
	for _, p := range ports {
		if _, err := os.Stat(filepath.Join(runtime.DefaultPortRegistryDir, p)); err == nil {
			e.t.Errorf("host port %s is still claimed when the terminal update arrives", p)
		}
	}
}

// assertRemovedAtExit checks that the executor removed its pod's cgroups
// before it exited (the agent's destruction of the container, which would
// remove them too, comes after).
func assertRemovedAtExit(t testing.TB, exit agentsim.ExitInfo) {
	t.Helper()
	for _, c := range exit.CgroupsLeft {
		t.Errorf("pod cgroup %s left at the executor's exit", c)
	}
}

// waitState waits for taskID to reach state; it fails at once if the task
// reaches another terminal state.
func waitState(t testing.TB, ex *agentsim.Executor, taskID string, state mesos.TaskState, d time.Duration) mesos.TaskStatus {
	t.Helper()
	ctx := ctxFor(t, d)
	states := []mesos.TaskState{state}
	for _, s := range []mesos.TaskState{mesos.TASK_FINISHED, mesos.TASK_FAILED, mesos.TASK_KILLED, mesos.TASK_ERROR, mesos.TASK_LOST, mesos.TASK_DROPPED, mesos.TASK_GONE} {
		if s != state {
			states = append(states, s)
		}
	}
	st, err := ex.WaitState(ctx, taskID, states...)
	if err != nil {
		t.Fatalf("%v; statuses: %s", err, statuses(ex))
	}
	if st.GetState() != state {
		t.Fatalf("waiting for %s %v, got %v (%v): %s", taskID, state, st.GetState(), st.GetReason(), st.GetMessage())
	}
	return st
}

func statuses(ex *agentsim.Executor) string {
	var b strings.Builder
	for _, r := range ex.Records() {
		fmt.Fprintf(&b, "[%s %v %q] ", r.Status.TaskID.Value, r.Status.GetState(), r.Status.GetMessage())
	}
	return b.String()
}

func waitExit(t testing.TB, ex *agentsim.Executor, d time.Duration) agentsim.ExitInfo {
	t.Helper()
	info, err := ex.Wait(ctxFor(t, d))
	if err != nil {
		t.Fatalf("executor did not exit within %v", d)
	}
	return info
}

// freePorts returns n free host ports as ranges of one port each.
func freePorts(t testing.TB, n int) [][2]uint64 {
	var out [][2]uint64
	var ls []net.Listener
	for len(out) < n {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		p := uint64(l.Addr().(*net.TCPAddr).Port)
		out = append(out, [2]uint64{p, p})
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

const webService = `
  web:
    image: %[1]s
    command: ["sh", "-c", "busybox mkdir -p /tmp/www && echo hello-from-compod > /tmp/www/index.html && echo web up && exec busybox httpd -f -p 8080 -h /tmp/www"]
    ports: ["8080"]
    stop_grace_period: 3s
`

const sideService = `
  side:
    image: %[1]s
    command: ["sh", "-c", "echo side up; trap 'exit 0' TERM; while true; do busybox sleep 0.1; done"]
`

func httpGet(port string) (string, error) {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get("http://127.0.0.1:" + port + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func httpEventually(t testing.TB, port, want string) {
	t.Helper()
	var body string
	var err error
	for i := 0; i < 50; i++ {
		if body, err = httpGet(port); err == nil && strings.Contains(body, want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET through host port %s: %q, %v", port, body, err)
}

// podPIDs returns the pids of every task of the pod's containers (found
// by the compod.pod label).
func (e *e2e) podPIDs(pod string) []uint32 {
	ctx := testenv.Context(e.t)
	ctrs, err := e.c.Containers(ctx, fmt.Sprintf("labels.%q==%s", runtime.LabelPod, pod))
	if err != nil {
		e.t.Fatal(err)
	}
	var pids []uint32
	for _, c := range ctrs {
		tk, err := c.Task(ctx, nil)
		if err != nil {
			continue
		}
		ps, err := tk.Pids(ctx)
		if err != nil {
			continue
		}
		for _, p := range ps {
			pids = append(pids, p.Pid)
		}
	}
	return pids
}

// assertInExecutorCgroup checks that every pod process sits under the
// executor's /mesos/<container-id> cgroup in the hierarchies the agent
// manages (cpu, memory, freezer).
func (e *e2e) assertInExecutorCgroup(ex *agentsim.Executor, pod string) {
	t := e.t
	t.Helper()
	pids := e.podPIDs(pod)
	if len(pids) < 3 { // pause + two services
		t.Fatalf("pod processes: %v", pids)
	}
	want := "/mesos/" + ex.ContainerID() + "/"
	checked := 0
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 {
				continue
			}
			for _, ctrl := range strings.Split(parts[1], ",") {
				if ctrl == "cpu" || ctrl == "memory" || ctrl == "freezer" {
					checked++
					if !strings.HasPrefix(parts[2], want) {
						t.Errorf("pid %d is in %s, not under %s", pid, line, want)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no cgroup line checked")
	}
}

func TestE2ELaunchKill(t *testing.T) { eachIsolation(t, e2eOpts{}, testLaunchKill) }

// With network/cni the agent gives the executor a network namespace of its
// own: the pod's port must still be published on the host (by the host
// helper, in the host's network namespace), not in the executor's.
func TestE2EOwnNetworkNamespace(t *testing.T) {
	o := e2eOpts{ns: agentsim.Namespaces{Mount: true, Net: true}}
	t.Run("launch-kill", func(t *testing.T) { testLaunchKill(t, newE2E(t, o)) })
	t.Run("executor-killed", func(t *testing.T) { testExecutorKilled(t, newE2E(t, o)) })
}

func testLaunchKill(t *testing.T, e *e2e) {
	ports := freePorts(t, 1)
	compose := "services:" + fmt.Sprintf(webService, testenv.BusyboxRef) + fmt.Sprintf(sideService, testenv.BusyboxRef)
	task := taskInfo("web", []string{"app/docker-compose.yml"}, ports)
	id := task.TaskID.Value
	start := time.Now()
	ex := e.launch(task, map[string]string{"app/docker-compose.yml": compose})
	waitState(t, ex, id, mesos.TASK_STARTING, 20*time.Second)
	run := waitState(t, ex, id, mesos.TASK_RUNNING, 60*time.Second)
	t.Logf("timing: LAUNCH → TASK_RUNNING %v (executor start, fetch and subscription included)", time.Since(start))
	pod := labelValue(run, "compod.pod")
	ip := labelValue(run, "compod.ip")
	ni := run.GetContainerStatus().GetNetworkInfos()
	if len(ni) != 1 || len(ni[0].IPAddresses) != 1 || ni[0].IPAddresses[0].GetIPAddress() != ip || net.ParseIP(ip) == nil {
		t.Fatalf("network infos %+v, ip label %q", ni, ip)
	}
	hostPort := labelValue(run, "compod.port.web.8080/tcp")
	if hostPort != strconv.Itoa(int(ports[0][0])) {
		t.Fatalf("port label %q, offered %d", hostPort, ports[0][0])
	}
	httpEventually(t, hostPort, "hello-from-compod")
	for _, f := range []string{PlanFile, PortsFile, "web.log", "side.log"} {
		if _, err := os.Stat(filepath.Join(ex.Sandbox(), f)); err != nil {
			t.Errorf("sandbox: %v", err)
		}
	}
	// The services' log files are written into the sandbox itself: one
	// file per service, both streams marked, and no copy in the state dir.
	var sideLog []byte
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if sideLog, _ = os.ReadFile(filepath.Join(ex.Sandbox(), "side.log")); strings.Contains(string(sideLog), " stdout F side up\n") {
			break
		}
	}
	if !strings.Contains(string(sideLog), " stdout F side up\n") {
		t.Errorf("sandbox side.log: %q, want a stdout line \"side up\"", sideLog)
	}
	if copies, _ := filepath.Glob(filepath.Join(e.stateDir, "pods", pod, "logs", "*")); len(copies) > 0 {
		t.Errorf("service logs copied into the state dir too: %v", copies)
	}
	if fi, err := os.Stat(filepath.Join(ex.Sandbox(), "side.log")); err == nil && fi.Mode().Perm() != 0o640 {
		t.Errorf("side.log has mode %v, want 0640", fi.Mode().Perm())
	}
	// The plan holds the services' environment: private to the executor.
	if fi, err := os.Stat(filepath.Join(ex.Sandbox(), PlanFile)); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("sandbox %s has mode %v, want 0600", PlanFile, fi.Mode().Perm())
	}
	e.assertInExecutorCgroup(ex, pod)

	grace := 2 * time.Second
	killStart := time.Now()
	if err := ex.Kill(ctxFor(t, 5*time.Second), id, &grace); err != nil {
		t.Fatal(err)
	}
	killed := waitState(t, ex, id, mesos.TASK_KILLED, 10*time.Second)
	killDur := time.Since(killStart)
	t.Logf("timing: KILL → TASK_KILLED %v (kill_policy grace %v)", killDur, grace)
	if killDur > grace+3*time.Second {
		t.Errorf("KILL took %v with a %v grace period", killDur, grace)
	}
	if killed.GetSource() != mesos.SOURCE_EXECUTOR {
		t.Errorf("TASK_KILLED from %v", killed.GetSource())
	}
	e.assertReleasedAtTerminal(killed)
	exit := waitExit(t, ex, 15*time.Second)
	if exit.Code != 0 || exit.Forced || len(exit.Unacked) > 0 {
		t.Errorf("executor exit: %+v", exit)
	}
	assertRemovedAtExit(t, exit)
	if b, _ := os.ReadFile(filepath.Join(ex.Sandbox(), "side.log")); !strings.Contains(string(b), " stdout F side up\n") {
		t.Errorf("side.log after the pod's removal: %q", b)
	}
}

func TestE2EServiceExit(t *testing.T) { eachIsolation(t, e2eOpts{}, testServiceExit) }

func testServiceExit(t *testing.T, e *e2e) {
	compose := fmt.Sprintf("services:\n  side:\n    image: %s\n    command: [\"sh\", \"-c\", \"busybox sleep 1; exit 3\"]\n", testenv.BusyboxRef) +
		fmt.Sprintf(webService, testenv.BusyboxRef)
	task := taskInfo("fails", []string{"docker-compose.yml"}, freePorts(t, 1))
	ex := e.launch(task, map[string]string{"docker-compose.yml": compose})
	waitState(t, ex, task.TaskID.Value, mesos.TASK_RUNNING, 60*time.Second)
	st := waitState(t, ex, task.TaskID.Value, mesos.TASK_FAILED, 20*time.Second)
	if !strings.Contains(st.GetMessage(), `"side"`) || !strings.Contains(st.GetMessage(), "3") || st.GetReason() != mesos.REASON_COMMAND_EXECUTOR_FAILED {
		t.Errorf("TASK_FAILED: %v %q", st.GetReason(), st.GetMessage())
	}
	if labelValue(st, "compod.exit.side") != "3" {
		t.Errorf("labels: %v", st.Labels)
	}
	e.assertReleasedAtTerminal(st)
	exit := waitExit(t, ex, 20*time.Second)
	if exit.Forced {
		t.Errorf("executor exit: %+v", exit)
	}
	assertRemovedAtExit(t, exit)
}

// With checkpointing an agent restart leaves the pod running: the executor
// re-subscribes within the agent's re-registration window, resending the
// updates the agent never acknowledged.
func TestE2ECheckpointAgentRestart(t *testing.T) {
	eachIsolation(t, e2eOpts{checkpoint: true}, testCheckpointAgentRestart)
}

func testCheckpointAgentRestart(t *testing.T, e *e2e) {
	e.agent.WithholdAcks(true) // as if the agent died before acknowledging
	ports := freePorts(t, 1)
	task := taskInfo("ck", []string{"docker-compose.yml"}, ports)
	id := task.TaskID.Value
	ex := e.launch(task, map[string]string{"docker-compose.yml": "services:" + fmt.Sprintf(webService, testenv.BusyboxRef)})
	run := waitState(t, ex, id, mesos.TASK_RUNNING, 60*time.Second)
	pod := labelValue(run, "compod.pod")
	port := labelValue(run, "compod.port.web.8080/tcp")
	httpEventually(t, port, "hello")

	restart := time.Now()
	if err := e.agent.Restart(ctxFor(t, 10*time.Second), time.Second); err != nil {
		t.Fatal(err)
	}
	e.agent.WithholdAcks(false)
	ctx := ctxFor(t, 10*time.Second)
	for ex.Subscriptions() < 2 {
		select {
		case <-ctx.Done():
			t.Fatalf("no re-subscription; subscriptions %d", ex.Subscriptions())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Logf("timing: agent restart (down 1s) → re-subscribed %v", time.Since(restart))
	if err := ex.WaitAcked(ctx, run.UUID); err != nil {
		t.Fatalf("RUNNING never acknowledged after the restart: %v", err)
	}
	var resent []string
	for _, r := range ex.Records() {
		if r.Resent {
			resent = append(resent, r.Status.GetState().String())
		}
	}
	if !slices.Contains(resent, "TASK_RUNNING") || !slices.Contains(resent, "TASK_STARTING") {
		t.Errorf("updates resent in SUBSCRIBE: %v", resent)
	}
	if n := ex.Subscriptions(); n != 2 {
		t.Errorf("subscriptions = %d", n)
	}
	if body, err := httpGet(port); err != nil || !strings.Contains(body, "hello") {
		t.Errorf("pod not serving after the agent's restart: %q %v", body, err)
	}
	if len(e.podPIDs(pod)) == 0 {
		t.Error("pod stopped during the agent's restart")
	}
	// Wait out the recovery window: the executor was not destroyed.
	time.Sleep(e.cfg.SubscriptionBackoffMax)
	grace := time.Second
	if err := ex.Kill(ctxFor(t, 10*time.Second), id, &grace); err != nil {
		t.Fatal(err)
	}
	waitState(t, ex, id, mesos.TASK_KILLED, 10*time.Second)
	if exit := waitExit(t, ex, 20*time.Second); exit.Forced || exit.Code != 0 {
		t.Errorf("executor exit: %+v", exit)
	}
}

// Without checkpointing the executor stops and removes its pod and exits
// when the agent goes away (the restarted agent would destroy it anyway).
func TestE2ENoCheckpointDisconnect(t *testing.T) {
	e := newE2E(t, e2eOpts{checkpoint: false})
	task := taskInfo("nock", []string{"docker-compose.yml"}, freePorts(t, 1))
	ex := e.launch(task, map[string]string{"docker-compose.yml": "services:" + fmt.Sprintf(webService, testenv.BusyboxRef)})
	waitState(t, ex, task.TaskID.Value, mesos.TASK_RUNNING, 60*time.Second)
	start := time.Now()
	restarted := make(chan error, 1)
	go func() { restarted <- e.agent.Restart(context.Background(), 15*time.Second) }()
	exit := waitExit(t, ex, 15*time.Second)
	t.Logf("timing: agent gone → executor exit (pod stopped and removed) %v", exit.Time.Sub(start))
	if exit.Forced {
		t.Errorf("the executor was destroyed instead of exiting: %+v", exit)
	}
	e.assertNoLeak()
	_ = e.agent.Close()
	<-restarted
}

// SHUTDOWN with the agent's grace period: a sidecar that depends on the
// web server, both ignoring SIGTERM with compose's default 10 s grace, stop
// one after the other; the executor's stop budget is a deadline for the
// whole pod, so both are killed, the pod removed (host port and IP freed)
// and the executor gone before the agent would destroy it.
func TestE2EShutdown(t *testing.T) {
	for _, grace := range []time.Duration{5 * time.Second, 2 * time.Second} {
		t.Run(grace.String(), func(t *testing.T) {
			eachIsolation(t, e2eOpts{grace: grace}, func(t *testing.T, e *e2e) { testShutdown(t, e, grace) })
		})
	}
}

func testShutdown(t *testing.T, e *e2e, grace time.Duration) {
	stubborn := `["sh", "-c", "trap '' TERM; echo up; while true; do busybox sleep 0.1; done"]`
	compose := fmt.Sprintf("services:\n  web:\n    image: %[1]s\n    command: %[2]s\n  sidecar:\n    image: %[1]s\n    command: %[2]s\n    depends_on: [web]\n    ports: [\"8080\"]\n",
		testenv.BusyboxRef, stubborn)
	task := taskInfo("sd", []string{"docker-compose.yml"}, freePorts(t, 1))
	ex := e.launch(task, map[string]string{"docker-compose.yml": compose})
	waitState(t, ex, task.TaskID.Value, mesos.TASK_RUNNING, 60*time.Second)
	start := time.Now()
	if err := ex.Shutdown(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitState(t, ex, task.TaskID.Value, mesos.TASK_KILLED, grace+5*time.Second)
	killed := time.Since(start)
	exit := waitExit(t, ex, grace+10*time.Second)
	t.Logf("timing: SHUTDOWN → TASK_KILLED %v, → executor exit %v (shutdown grace %v)", killed, exit.Time.Sub(start), grace)
	if exit.Forced {
		t.Errorf("executor destroyed by the agent after the grace period: %+v", exit)
	}
	if exit.Time.Sub(start) > grace {
		t.Errorf("executor exited %v after SHUTDOWN, grace period %v", exit.Time.Sub(start), grace)
	}
	if len(exit.Unacked) > 0 {
		t.Errorf("exited with unacknowledged updates: %v", exit.Unacked)
	}
	// Removed before the executor went: nothing was left to its destruction.
	if ctrs := e.containers(); len(ctrs) > 0 {
		t.Errorf("containers left at the executor's exit: %v", ctrs)
	}
	assertRemovedAtExit(t, exit)
}

func TestE2EBadTask(t *testing.T) {
	web := "services:" + fmt.Sprintf(webService, testenv.BusyboxRef)
	for name, tc := range map[string]struct {
		files  map[string]string
		label  []string
		noPort bool
		want   []string
	}{
		"no label":        {files: map[string]string{"docker-compose.yml": web}, want: []string{`"fileName"`}},
		"missing file":    {label: []string{"docker-compose.yml"}, want: []string{`"docker-compose.yml"`, "not in the sandbox"}},
		"invalid compose": {files: map[string]string{"c.yml": "services:\n  web:\n    command: [x]\n"}, label: []string{"c.yml"}, want: []string{"c.yml", "web"}},
		"too few ports":   {files: map[string]string{"c.yml": web}, label: []string{"c.yml"}, noPort: true, want: []string{"web 8080/tcp"}},
	} {
		t.Run(name, func(t *testing.T) {
			e := newE2E(t, e2eOpts{})
			ports := freePorts(t, 1)
			if tc.noPort {
				ports = nil
			}
			task := taskInfo("bad", tc.label, ports)
			ex := e.launch(task, tc.files)
			st := waitState(t, ex, task.TaskID.Value, mesos.TASK_FAILED, 20*time.Second)
			t.Logf("TASK_FAILED: %q", st.GetMessage())
			for _, w := range tc.want {
				if !strings.Contains(st.GetMessage(), w) {
					t.Errorf("message %q does not say %q", st.GetMessage(), w)
				}
			}
			if st.GetReason() != mesos.REASON_TASK_INVALID {
				t.Errorf("reason %v", st.GetReason())
			}
			if exit := waitExit(t, ex, 20*time.Second); exit.Forced || len(exit.Unacked) > 0 {
				t.Errorf("executor exit: %+v", exit)
			}
			if ctrs := e.containers(); len(ctrs) > 0 {
				t.Errorf("containers were created for a bad task: %v", ctrs)
			}
		})
	}
}

// A pod whose image must be pulled says so while it starts: TASK_STARTING
// updates name the image being pulled, then its size once pulled.
func TestE2EPullProgress(t *testing.T) {
	e := newE2E(t, e2eOpts{})
	ref := testenv.PushTestapp(t, e.c, testenv.Registry(t))
	compose := fmt.Sprintf("services:\n  web:\n    image: %s\n    command: [\"-listen\", \":8080\"]\n", ref)
	task := taskInfo("cfgpull-exec", []string{"docker-compose.yml"}, nil)
	id := task.TaskID.Value
	ex := e.launch(task, map[string]string{"docker-compose.yml": compose})
	waitState(t, ex, id, mesos.TASK_RUNNING, 60*time.Second)
	var pulling, pulled []string
	for _, r := range ex.Records() {
		msg := r.Status.GetMessage()
		switch {
		case r.Status.GetState() != mesos.TASK_STARTING:
		case strings.HasPrefix(msg, "compod: pulling "+ref+": "):
			pulling = append(pulling, msg)
		case strings.HasPrefix(msg, "compod: pulled "+ref+": ") && strings.Contains(msg, " MiB in "):
			pulled = append(pulled, msg)
		}
	}
	if len(pulling) == 0 || len(pulled) != 1 {
		t.Errorf("want TASK_STARTING updates saying %s is being pulled, then one with its size: %s", ref, statuses(ex))
	}
	t.Logf("pull progress updates: %q, %q", pulling, pulled)
	grace := time.Second
	if err := ex.Kill(ctxFor(t, 5*time.Second), id, &grace); err != nil {
		t.Fatal(err)
	}
	waitState(t, ex, id, mesos.TASK_KILLED, 15*time.Second)
	if exit := waitExit(t, ex, 15*time.Second); exit.Forced || len(exit.Unacked) > 0 {
		t.Errorf("executor exit: %+v", exit)
	}
}
