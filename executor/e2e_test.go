package executor

// End-to-end tests: the real compod binary runs as the executor, started
// the way a Mesos agent starts it (MESOS_* environment, inside a
// /mesos/<container-id> cgroup), against the fake agent of fakes_test.go and
// the private containerd of hack/containerd.sh. They need root.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"

	"github.com/compod/compod/cgroups"
	"github.com/compod/compod/cni/cnitest"
	"github.com/compod/compod/internal/testenv"
)

type e2e struct {
	t        *testing.T
	agent    *fakeAgent
	c        *client.Client
	sandbox  string
	stateDir string
	cid      string
	cgDirs   []string // the emulated Mesos container cgroup, per hierarchy
	cmd      *exec.Cmd
	exited   chan struct{}
	exitErr  error
	exitAt   time.Time
	before   []string
	cniSnap  cnitest.State
}

type e2eOpts struct {
	checkpoint bool
	grace      string // MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD
}

func newE2E(t *testing.T, o e2eOpts) *e2e {
	if os.Geteuid() != 0 {
		t.Skip("end-to-end executor tests need root")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	c := testenv.Client(t)
	testenv.EnsureImages(t, c)
	bin := testenv.CompodBinary(t)
	e := &e2e{t: t, agent: newFakeAgent(t), c: c, sandbox: t.TempDir(), stateDir: t.TempDir(),
		cid: fmt.Sprintf("e2e-%d", time.Now().UnixNano()), exited: make(chan struct{})}
	e.before = e.containers()
	e.cniSnap = cnitest.Snapshot(t, e.stateDir)

	// The agent's cgroups isolator: /mesos/<cid> in the memory and cpu
	// hierarchies, the executor moved in before it runs.
	hs, err := cgroups.Hierarchies()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if h.V2 || !(slices.Contains(h.Controllers, "memory") || slices.Contains(h.Controllers, "cpu")) {
			continue
		}
		d := filepath.Join(h.Mount, "mesos", e.cid)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		e.cgDirs = append(e.cgDirs, d)
		if slices.Contains(h.Controllers, "memory") {
			os.WriteFile(filepath.Join(d, "memory.limit_in_bytes"), []byte(strconv.Itoa(1<<30)), 0o644)
		}
	}
	if len(e.cgDirs) == 0 {
		t.Skip("no cgroup v1 memory/cpu hierarchy")
	}
	grace := o.grace
	if grace == "" {
		grace = "5secs"
	}
	checkpoint := "0"
	if o.checkpoint {
		checkpoint = "1"
	}
	stdout, _ := os.Create(filepath.Join(e.sandbox, "stdout"))
	stderr, _ := os.Create(filepath.Join(e.sandbox, "stderr"))
	e.cmd = exec.Command("/bin/sh", "-c", `for d in $E2E_CGROUPS; do echo $$ > "$d/cgroup.procs"; done; exec "$0" executor`, bin)
	e.cmd.Dir = e.sandbox
	e.cmd.Stdout, e.cmd.Stderr = stdout, stderr
	e.cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"E2E_CGROUPS=" + strings.Join(e.cgDirs, " "),
		"MESOS_AGENT_ENDPOINT=" + e.agent.endpoint(),
		"MESOS_FRAMEWORK_ID=fw-e2e",
		"MESOS_EXECUTOR_ID=ex-" + e.cid,
		"MESOS_SANDBOX=" + e.sandbox,
		"MESOS_DIRECTORY=" + e.sandbox,
		"MESOS_CHECKPOINT=" + checkpoint,
		"MESOS_RECOVERY_TIMEOUT=20secs",
		"MESOS_SUBSCRIPTION_BACKOFF_MAX=250ms",
		"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD=" + grace,
		"CONTAINERD_ADDRESS=" + testenv.Address(),
		"CONTAINERD_NAMESPACE=" + testenv.Namespace,
		"COMPOD_STATE_DIR=" + e.stateDir,
		"COMPOD_CNI_BIN_DIR=/usr/lib/cni:/opt/cni/bin",
		"COMPOD_LOG_LEVEL=debug",
	}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		e.exitErr = e.cmd.Wait()
		e.exitAt = time.Now()
		stdout.Close()
		stderr.Close()
		close(e.exited)
	}()
	t.Cleanup(e.cleanup)
	e.agent.waitFor("SUBSCRIBE", 20*time.Second, func() bool { return len(e.agent.subscribes) > 0 })
	return e
}

func (e *e2e) cleanup() {
	select {
	case <-e.exited:
	default:
		e.cmd.Process.Kill()
		<-e.exited
		e.t.Error("executor still running at the end of the test")
	}
	if e.t.Failed() {
		b, _ := os.ReadFile(filepath.Join(e.sandbox, "stderr"))
		e.t.Logf("executor stderr:\n%s", b)
	}
	e.assertNoLeak()
	for _, d := range e.cgDirs {
		if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
			e.t.Errorf("the executor's Mesos cgroup is not empty (pod cgroups leaked?): %v", err)
		}
	}
	// In the hierarchies the "agent" does not manage, runc made
	// /mesos/<cid> for the pods; the executor must have removed it.
	hs, _ := cgroups.Hierarchies()
	for _, h := range hs {
		d := filepath.Join(h.Mount, "mesos", e.cid)
		if _, err := os.Stat(d); err == nil {
			e.t.Errorf("leaked cgroup %s", d)
			os.Remove(d)
		}
		os.Remove(filepath.Join(h.Mount, "mesos")) // only if empty
	}
}

func (e *e2e) containers() []string {
	ctx := testenv.Context(e.t)
	ctrs, err := e.c.Containers(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, c := range ctrs {
		out = append(out, c.ID())
	}
	return out
}

func (e *e2e) assertNoLeak() {
	for _, id := range e.containers() {
		if !slices.Contains(e.before, id) {
			e.t.Errorf("leaked container %s", id)
		}
	}
	e.cniSnap.AssertNoLeak(e.t, cnitest.Snapshot(e.t, e.stateDir))
	if ents, _ := os.ReadDir(filepath.Join(e.stateDir, "pods")); len(ents) > 0 {
		e.t.Errorf("leaked pod state: %v", ents)
	}
	for _, d := range e.cgDirs {
		ents, _ := os.ReadDir(d)
		for _, ent := range ents {
			if ent.IsDir() {
				e.t.Errorf("leaked cgroup %s", filepath.Join(d, ent.Name()))
			}
		}
	}
}

func (e *e2e) waitExit(d time.Duration) time.Duration {
	e.t.Helper()
	start := time.Now()
	select {
	case <-e.exited:
		return e.exitAt.Sub(start)
	case <-time.After(d):
		e.t.Fatalf("executor did not exit within %v", d)
		return 0
	}
}

// freePorts returns n free host ports as ranges of one port each.
func freePorts(t *testing.T, n int) [][2]uint64 {
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

func (e *e2e) task(id, compose string, ports [][2]uint64) mesos.TaskInfo {
	os.MkdirAll(filepath.Join(e.sandbox, "app"), 0o755)
	if err := os.WriteFile(filepath.Join(e.sandbox, "app", "docker-compose.yml"), []byte(compose), 0o644); err != nil {
		e.t.Fatal(err)
	}
	s := mesos.SCALAR
	info := mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, Resources: []mesos.Resource{
		{Name: "cpus", Type: &s, Scalar: &mesos.Value_Scalar{Value: 0.5}},
		{Name: "mem", Type: &s, Scalar: &mesos.Value_Scalar{Value: 256}},
	}, Labels: &mesos.Labels{Labels: []mesos.Label{label(LabelFileName, "app/docker-compose.yml")}}}
	if len(ports) > 0 {
		info.Resources = append(info.Resources, portsResource(ports...))
	}
	return info
}

func (e *e2e) launch(info mesos.TaskInfo) time.Time {
	e.agent.send(&executor.Event{Type: executor.Event_LAUNCH, Launch: &executor.Event_Launch{Task: info}})
	return time.Now()
}

func (e *e2e) kill(id string, grace time.Duration) time.Time {
	e.agent.send(&executor.Event{Type: executor.Event_KILL, Kill: &executor.Event_Kill{TaskID: mesos.TaskID{Value: id},
		KillPolicy: &mesos.KillPolicy{GracePeriod: &mesos.DurationInfo{Nanoseconds: int64(grace)}}}})
	return time.Now()
}

func (e *e2e) httpGet(port string) (string, error) {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get("http://127.0.0.1:" + port + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// podPIDs returns the pids of every task of the pod's containers.
func (e *e2e) podPIDs(pod string) []uint32 {
	ctx := testenv.Context(e.t)
	ctrs, err := e.c.Containers(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var pids []uint32
	for _, c := range ctrs {
		if !strings.HasPrefix(c.ID(), pod) {
			continue
		}
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

func TestE2ELaunchKill(t *testing.T) {
	e := newE2E(t, e2eOpts{})
	ports := freePorts(t, 1)
	info := e.task("web.1", "services:"+fmt.Sprintf(webService, testenv.BusyboxRef)+fmt.Sprintf(sideService, testenv.BusyboxRef), ports)
	start := e.launch(info)
	e.agent.waitState("web.1", mesos.TASK_STARTING, 10*time.Second)
	run := e.agent.waitState("web.1", mesos.TASK_RUNNING, 60*time.Second)
	t.Logf("LAUNCH → TASK_RUNNING: %v", time.Since(start))
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
	var body string
	var err error
	for i := 0; i < 50; i++ {
		if body, err = e.httpGet(hostPort); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(body, "hello-from-compod") {
		t.Fatalf("GET through host port %s: %q, %v", hostPort, body, err)
	}
	// Sandbox files.
	for _, f := range []string{PlanFile, PortsFile, "web.stdout", "web.stderr", "side.stdout", "side.stderr"} {
		if _, err := os.Stat(filepath.Join(e.sandbox, f)); err != nil {
			t.Errorf("sandbox: %v", err)
		}
	}
	// Every pod process sits under the executor's Mesos container cgroup.
	pids := e.podPIDs(pod)
	if len(pids) < 3 {
		t.Fatalf("pod processes: %v", pids)
	}
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) == 3 && (strings.Contains(parts[1], "memory") || strings.Contains(parts[1], "cpu")) &&
				!strings.HasPrefix(parts[2], "/mesos/"+e.cid+"/"+pod+"/") {
				t.Errorf("pid %d is in %s, not under /mesos/%s/%s", pid, line, e.cid, pod)
			}
		}
	}

	killStart := e.kill("web.1", 2*time.Second)
	e.agent.waitState("web.1", mesos.TASK_KILLED, 10*time.Second)
	killDur := time.Since(killStart)
	t.Logf("KILL → TASK_KILLED: %v", killDur)
	if killDur > 2*time.Second+3*time.Second {
		t.Errorf("KILL took %v with a 2s grace period", killDur)
	}
	e.waitExit(15 * time.Second)
	if e.exitErr != nil {
		t.Errorf("executor exit: %v", e.exitErr)
	}
	if b, _ := os.ReadFile(filepath.Join(e.sandbox, "side.stdout")); !strings.Contains(string(b), "side up") {
		t.Errorf("side.stdout after the pod's removal: %q", b)
	}
}

func TestE2EServiceExit(t *testing.T) {
	e := newE2E(t, e2eOpts{})
	compose := fmt.Sprintf("services:\n  side:\n    image: %s\n    command: [\"sh\", \"-c\", \"busybox sleep 1; exit 3\"]\n", testenv.BusyboxRef) +
		fmt.Sprintf(webService, testenv.BusyboxRef)
	e.launch(e.task("fails", compose, freePorts(t, 1)))
	e.agent.waitState("fails", mesos.TASK_RUNNING, 60*time.Second)
	st := e.agent.waitState("fails", mesos.TASK_FAILED, 20*time.Second)
	if !strings.Contains(st.GetMessage(), `"side"`) || !strings.Contains(st.GetMessage(), "3") || st.GetReason() != mesos.REASON_COMMAND_EXECUTOR_FAILED {
		t.Errorf("TASK_FAILED: %v %q", st.GetReason(), st.GetMessage())
	}
	if labelValue(st, "compod.exit.side") != "3" {
		t.Errorf("labels: %v", st.Labels)
	}
	e.waitExit(20 * time.Second)
}

func TestE2ECheckpointAgentRestart(t *testing.T) {
	e := newE2E(t, e2eOpts{checkpoint: true})
	e.agent.setAutoAck(false) // RUNNING stays unacknowledged over the restart
	ports := freePorts(t, 1)
	e.launch(e.task("ck", "services:"+fmt.Sprintf(webService, testenv.BusyboxRef), ports))
	run := e.agent.waitState("ck", mesos.TASK_RUNNING, 60*time.Second)
	pod := labelValue(run, "compod.pod")
	e.agent.restart(time.Second)
	e.agent.setAutoAck(true) // the restarted agent takes over the resent updates
	e.agent.waitFor("resubscription", 20*time.Second, func() bool { return len(e.agent.subscribes) >= 2 })
	e.agent.mu.Lock()
	sub := e.agent.subscribes[len(e.agent.subscribes)-1].Subscribe
	e.agent.mu.Unlock()
	var resent []string
	for _, u := range sub.UnacknowledgedUpdates {
		resent = append(resent, u.Status.State.String())
	}
	if !slices.Contains(resent, "TASK_RUNNING") || len(sub.UnacknowledgedTasks) != 1 {
		t.Errorf("SUBSCRIBE after restart: updates %v, %d tasks", resent, len(sub.UnacknowledgedTasks))
	}
	if body, err := e.httpGet(labelValue(run, "compod.port.web.8080/tcp")); err != nil || !strings.Contains(body, "hello") {
		t.Errorf("pod not serving after the agent's restart: %q %v", body, err)
	}
	if len(e.podPIDs(pod)) == 0 {
		t.Error("pod stopped during the agent's restart")
	}
	e.kill("ck", time.Second)
	e.agent.waitState("ck", mesos.TASK_KILLED, 10*time.Second)
	e.waitExit(20 * time.Second)
}

func TestE2ENoCheckpointDisconnect(t *testing.T) {
	e := newE2E(t, e2eOpts{checkpoint: false})
	e.launch(e.task("nock", "services:"+fmt.Sprintf(webService, testenv.BusyboxRef), freePorts(t, 1)))
	e.agent.waitState("nock", mesos.TASK_RUNNING, 60*time.Second)
	e.agent.restart(-1)
	d := e.waitExit(20 * time.Second)
	t.Logf("disconnect → executor exit (pod stopped and removed): %v", d)
}

func TestE2EShutdown(t *testing.T) {
	e := newE2E(t, e2eOpts{grace: "4secs"})
	compose := "services:" + fmt.Sprintf(webService, testenv.BusyboxRef) +
		// A service that ignores SIGTERM: only SIGKILL at the end of the budget stops it.
		fmt.Sprintf("  stubborn:\n    image: %s\n    command: [\"sh\", \"-c\", \"trap '' TERM; while true; do busybox sleep 0.1; done\"]\n    stop_grace_period: 1m\n", testenv.BusyboxRef)
	e.launch(e.task("sd", compose, freePorts(t, 1)))
	e.agent.waitState("sd", mesos.TASK_RUNNING, 60*time.Second)
	start := time.Now()
	e.agent.send(&executor.Event{Type: executor.Event_SHUTDOWN})
	e.agent.waitState("sd", mesos.TASK_KILLED, 10*time.Second)
	killed := time.Since(start)
	e.waitExit(10 * time.Second)
	exit := e.exitAt.Sub(start)
	t.Logf("SHUTDOWN → TASK_KILLED %v, → exit %v (grace 4s)", killed, exit)
	if exit > 4*time.Second {
		t.Errorf("executor exited %v after SHUTDOWN, grace period 4s", exit)
	}
}

func TestE2EBadTask(t *testing.T) {
	e := newE2E(t, e2eOpts{})
	info := e.task("bad", "services:"+fmt.Sprintf(webService, testenv.BusyboxRef), nil) // no ports offered
	e.launch(info)
	st := e.agent.waitState("bad", mesos.TASK_FAILED, 20*time.Second)
	if !strings.Contains(st.GetMessage(), "web 8080/tcp") || st.GetReason() != mesos.REASON_TASK_INVALID {
		t.Errorf("TASK_FAILED: %v %q", st.GetReason(), st.GetMessage())
	}
	e.waitExit(20 * time.Second)
}
