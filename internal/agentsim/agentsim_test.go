package agentsim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
)

func startAgent(t *testing.T, cfg Config) *Agent {
	t.Helper()
	if cfg.WorkDir == "" {
		cfg.WorkDir = t.TempDir()
	}
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	a, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func task(id string, res ...mesos.Resource) mesos.TaskInfo {
	return mesos.TaskInfo{Name: id, TaskID: mesos.TaskID{Value: id}, Resources: res}
}

func scalar(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
}

func fw() mesos.FrameworkInfo {
	return mesos.FrameworkInfo{User: "root", Name: "agentsim-test", ID: &mesos.FrameworkID{Value: "fw-" + newUUID()}}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func dumpLogs(t *testing.T, e *Executor) {
	t.Helper()
	if e.Sandbox() == "" {
		return
	}
	b, _ := os.ReadFile(filepath.Join(e.Sandbox(), "stderr"))
	t.Logf("executor stderr:\n%s", b)
}

func readEnv(t *testing.T, e *Executor) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.Sandbox(), "env.txt"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	return env
}

// Subscribe → LAUNCH → RUNNING, FINISHED, each acknowledged; the executor
// gets the agent's environment and sandbox and exits on its own.
func TestLaunchRunFinish(t *testing.T) {
	a := startAgent(t, Config{Checkpoint: true, RecoveryTimeout: 15 * time.Minute,
		SubscriptionBackoffMax: 2 * time.Second, ShutdownGracePeriod: 5 * time.Second})
	f := fw()
	e, err := a.LaunchExecutor(ctxT(t, 10*time.Second), fakeExecInfo(t, "exec-1", "finish"), f, task("t1"))
	if err != nil {
		t.Fatal(err)
	}
	defer dumpLogs(t, e)
	ctx := ctxT(t, 20*time.Second)
	running, err := e.WaitState(ctx, "t1", mesos.TASK_RUNNING)
	if err != nil {
		t.Fatal(err)
	}
	finished, err := e.WaitState(ctx, "t1", mesos.TASK_FINISHED)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := e.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Code != 0 || ex.Forced || !ex.Launched {
		t.Fatalf("exit: %+v", ex)
	}
	for _, st := range []mesos.TaskStatus{running, finished} {
		if !e.Acked(st.UUID) {
			t.Errorf("%s not acknowledged", st.State)
		}
		if st.GetSource() != mesos.SOURCE_EXECUTOR {
			t.Errorf("source %v", st.GetSource())
		}
	}
	if len(ex.Unacked) != 0 {
		t.Errorf("executor exited with unacknowledged updates: %v", ex.Unacked)
	}
	if n := e.Subscriptions(); n != 1 {
		t.Errorf("subscriptions = %d", n)
	}
	// The Updates channel replays the log in order and is closed at the end.
	var states []string
	for r := range e.Updates() {
		states = append(states, r.Status.GetState().String())
	}
	if got := strings.Join(states, ","); got != "TASK_RUNNING,TASK_FINISHED" {
		t.Errorf("updates: %s", got)
	}

	// Sandbox layout and environment.
	want := filepath.Join(a.cfg.WorkDir, "slaves", a.ID(), "frameworks", f.ID.Value, "executors", "exec-1", "runs", e.ContainerID())
	if e.Sandbox() != want {
		t.Errorf("sandbox %s, want %s", e.Sandbox(), want)
	}
	for _, n := range []string{"stdout", "stderr"} {
		if _, err := os.Stat(filepath.Join(e.Sandbox(), n)); err != nil {
			t.Error(err)
		}
	}
	env := readEnv(t, e)
	for k, v := range map[string]string{
		"MESOS_AGENT_ENDPOINT":                 a.Endpoint(),
		"MESOS_FRAMEWORK_ID":                   f.ID.Value,
		"MESOS_EXECUTOR_ID":                    "exec-1",
		"MESOS_SANDBOX":                        e.Sandbox(),
		"MESOS_DIRECTORY":                      e.Sandbox(),
		"MESOS_CHECKPOINT":                     "1",
		"MESOS_RECOVERY_TIMEOUT":               "15mins",
		"MESOS_SUBSCRIPTION_BACKOFF_MAX":       "2secs",
		"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "5secs",
		"MESOS_SLAVE_ID":                       a.ID(),
		"MESOS_SLAVE_PID":                      "slave(1)@" + a.Endpoint(),
		"MESOS_HTTP_COMMAND_EXECUTOR":          "0",
		"AGENTSIM_FAKEEXEC":                    "finish",
	} {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	if !strings.HasPrefix(a.Endpoint(), "127.0.0.1:") {
		t.Errorf("endpoint %s", a.Endpoint())
	}
}

// Without checkpointing the recovery variables are not set (as on a real
// agent) and ExecutorInfo.shutdown_grace_period overrides the flag.
func TestEnvNoCheckpoint(t *testing.T) {
	a := startAgent(t, Config{})
	info := fakeExecInfo(t, "exec-env", "finish")
	info.ShutdownGracePeriod = &mesos.DurationInfo{Nanoseconds: int64(1500 * time.Millisecond)}
	e, err := a.LaunchExecutor(ctxT(t, 10*time.Second), info, fw(), task("t1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Wait(ctxT(t, 20*time.Second)); err != nil {
		t.Fatal(err)
	}
	env := readEnv(t, e)
	if env["MESOS_CHECKPOINT"] != "0" || env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] != "1500ms" {
		t.Errorf("env: checkpoint=%q grace=%q", env["MESOS_CHECKPOINT"], env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"])
	}
	for _, k := range []string{"MESOS_RECOVERY_TIMEOUT", "MESOS_SUBSCRIPTION_BACKOFF_MAX"} {
		if _, ok := env[k]; ok {
			t.Errorf("%s set without checkpointing", k)
		}
	}
}

func TestMesosDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		15 * time.Minute:        "15mins",
		2 * time.Second:         "2secs",
		5 * time.Second:         "5secs",
		250 * time.Millisecond:  "250ms",
		1500 * time.Millisecond: "1500ms",
		90 * time.Second:        "90secs",
		time.Hour:               "1hrs",
		10 * 24 * time.Hour:     "10days",
		1500 * time.Nanosecond:  "1500ns",
		2 * time.Microsecond:    "2us",
	} {
		if got := mesosDuration(d); got != want {
			t.Errorf("%v: %s, want %s", d, got, want)
		}
	}
}

// Updates the agent never acknowledged are resent in the next SUBSCRIBE
// after an agent restart, processed (recorded as Resent) and acknowledged.
func TestResendAfterRestart(t *testing.T) {
	a := startAgent(t, Config{Checkpoint: true, RecoveryTimeout: 30 * time.Second,
		SubscriptionBackoffMax: 1 * time.Second, ShutdownGracePeriod: 3 * time.Second})
	a.WithholdAcks(true)
	e, err := a.LaunchExecutor(ctxT(t, 10*time.Second), fakeExecInfo(t, "exec-r", "run"), fw(), task("t1"))
	if err != nil {
		t.Fatal(err)
	}
	defer dumpLogs(t, e)
	ctx := ctxT(t, 40*time.Second)
	running, err := e.WaitState(ctx, "t1", mesos.TASK_RUNNING)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if e.Acked(running.UUID) {
		t.Fatal("acked although withheld")
	}
	a.WithholdAcks(false)
	if err := a.Restart(ctx, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitAcked(ctx, running.UUID); err != nil {
		t.Fatal("resent update never acknowledged:", err)
	}
	if n := e.Subscriptions(); n != 2 {
		t.Errorf("subscriptions = %d, want 2", n)
	}
	var resent *StatusRecord
	for _, r := range e.Records() {
		if r.Resent && bytes.Equal(r.Status.UUID, running.UUID) {
			resent = &r
		}
	}
	if resent == nil || !resent.Duplicate {
		t.Fatalf("no resent duplicate of the RUNNING update in %+v", e.Records())
	}
	// The agent is recovering for SubscriptionBackoffMax; Kill waits for it.
	grace := 2 * time.Second
	if err := e.Kill(ctx, "t1", &grace); err != nil {
		t.Fatal(err)
	}
	killed, err := e.WaitState(ctx, "t1", mesos.TASK_KILLED)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.WaitAcked(ctx, killed.UUID); err != nil {
		t.Fatal(err)
	}
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	ex, err := e.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Forced || ex.Code != 0 {
		t.Errorf("exit %+v", ex)
	}
}

// An executor that does not re-subscribe within the re-registration window
// is destroyed and its tasks become TASK_LOST.
func TestNoResubscribeIsLost(t *testing.T) {
	a := startAgent(t, Config{Checkpoint: true, SubscriptionBackoffMax: 500 * time.Millisecond})
	e, err := a.LaunchExecutor(ctxT(t, 10*time.Second), fakeExecInfo(t, "exec-s", "stubborn"), fw(), task("t1"))
	if err != nil {
		t.Fatal(err)
	}
	defer dumpLogs(t, e)
	ctx := ctxT(t, 20*time.Second)
	if _, err := e.WaitState(ctx, "t1", mesos.TASK_RUNNING); err != nil {
		t.Fatal(err)
	}
	if err := a.Restart(ctx, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	lost, err := e.WaitState(ctx, "t1", mesos.TASK_LOST)
	if err != nil {
		t.Fatal(err)
	}
	if lost.GetReason() != mesos.REASON_EXECUTOR_REREGISTRATION_TIMEOUT || lost.GetSource() != mesos.SOURCE_AGENT {
		t.Errorf("lost: %v %v %q", lost.GetReason(), lost.GetSource(), lost.GetMessage())
	}
	ex, _ := e.Wait(ctx)
	if !ex.Forced || ex.Signal != syscall.SIGKILL {
		t.Errorf("exit %+v", ex)
	}
}

// Without checkpointing a restarted agent destroys executors still alive.
func TestRestartWithoutCheckpointKills(t *testing.T) {
	a := startAgent(t, Config{})
	e, err := a.LaunchExecutor(ctxT(t, 10*time.Second), fakeExecInfo(t, "exec-n", "stubborn"), fw(), task("t1"))
	if err != nil {
		t.Fatal(err)
	}
	defer dumpLogs(t, e)
	ctx := ctxT(t, 20*time.Second)
	if _, err := e.WaitState(ctx, "t1", mesos.TASK_RUNNING); err != nil {
		t.Fatal(err)
	}
	if err := a.Restart(ctx, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ex, err := e.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !ex.Forced {
		t.Errorf("exit %+v", ex)
	}
	st, err := e.WaitState(ctx, "t1", mesos.TASK_LOST)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetReason() != mesos.REASON_AGENT_RESTARTED {
		t.Errorf("reason %v", st.GetReason())
	}
}

// SHUTDOWN to an executor that ignores it: the agent kills it after the
// shutdown grace period, and the live task becomes TASK_FAILED.
func TestShutdownForced(t *testing.T) {
	a := startAgent(t, Config{ShutdownGracePeriod: time.Second})
	e, err := a.LaunchExecutor(ctxT(t, 10*time.Second), fakeExecInfo(t, "exec-i", "ignore-shutdown"), fw(), task("t1"))
	if err != nil {
		t.Fatal(err)
	}
	defer dumpLogs(t, e)
	ctx := ctxT(t, 20*time.Second)
	if _, err := e.WaitState(ctx, "t1", mesos.TASK_RUNNING); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	ex, err := e.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !ex.Forced || ex.Signal != syscall.SIGKILL || ex.Code != -1 {
		t.Errorf("exit %+v", ex)
	}
	if d := ex.Time.Sub(sent); d < time.Second || d > 5*time.Second {
		t.Errorf("killed after %v, want the 1s grace period", d)
	}
	st, err := e.WaitState(ctx, "t1", mesos.TASK_FAILED)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED || st.GetSource() != mesos.SOURCE_AGENT {
		t.Errorf("%v %v", st.GetReason(), st.GetSource())
	}
}

// A graceful SHUTDOWN: TASK_KILLED, acknowledged, clean exit in time.
func TestShutdownGraceful(t *testing.T) {
	a := startAgent(t, Config{ShutdownGracePeriod: 5 * time.Second})
	e, err := a.LaunchExecutor(ctxT(t, 10*time.Second), fakeExecInfo(t, "exec-g", "run"), fw(), task("t1"), task("t2"))
	if err != nil {
		t.Fatal(err)
	}
	defer dumpLogs(t, e)
	ctx := ctxT(t, 20*time.Second)
	for _, id := range []string{"t1", "t2"} {
		if _, err := e.WaitState(ctx, id, mesos.TASK_RUNNING); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Message(ctx, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	ex, err := e.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Forced || ex.Code != 0 || len(ex.Unacked) != 0 {
		t.Errorf("exit %+v", ex)
	}
	for _, id := range []string{"t1", "t2"} {
		st, err := e.WaitState(ctx, id, mesos.TASK_KILLED)
		if err != nil {
			t.Fatal(err)
		}
		if st.GetSource() != mesos.SOURCE_EXECUTOR {
			t.Errorf("%s killed by %v", id, st.GetSource())
		}
	}
	if m := e.Messages(); len(m) != 1 || string(m[0]) != "echo:hi" {
		t.Errorf("messages %q", m)
	}
}

// Non-CUSTOM executors are rejected like the master does: TASK_ERROR.
func TestNonCustomExecutor(t *testing.T) {
	a := startAgent(t, Config{})
	info := fakeExecInfo(t, "exec-d", "finish")
	info.Type = mesos.ExecutorInfo_DEFAULT
	e, err := a.LaunchExecutor(ctxT(t, 5*time.Second), info, fw(), task("t1"), task("t2"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 5*time.Second)
	for _, id := range []string{"t1", "t2"} {
		st, err := e.WaitState(ctx, id, mesos.TASK_ERROR)
		if err != nil {
			t.Fatal(err)
		}
		if st.GetReason() != mesos.REASON_TASK_INVALID || st.GetSource() != mesos.SOURCE_MASTER ||
			!strings.Contains(st.GetMessage(), "'ExecutorInfo.type' must be 'CUSTOM'") {
			t.Errorf("%v %v %q", st.GetReason(), st.GetSource(), st.GetMessage())
		}
	}
	ex, _ := e.Wait(ctx)
	if ex.Launched || e.PID() != 0 {
		t.Errorf("launched: %+v pid %d", ex, e.PID())
	}
}

// cgroup v1 placement: the executor runs in /mesos/<container-id> for cpu,
// memory and freezer from its first instruction, with the limits of the
// executor plus its tasks; the cgroups are removed when it is gone.
func TestCgroups(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat("/sys/fs/cgroup/freezer"); err != nil {
		t.Skip("no cgroup v1 freezer hierarchy")
	}
	a := startAgent(t, Config{CgroupRoot: DefaultCgroupRoot, EnableCFS: true})
	info := fakeExecInfo(t, "exec-cg", "run", scalar("cpus", 0.1), scalar("mem", 32))
	e, err := a.LaunchExecutor(ctxT(t, 10*time.Second), info, fw(), task("t1", scalar("cpus", 0.5), scalar("mem", 64)))
	if err != nil {
		t.Fatal(err)
	}
	defer dumpLogs(t, e)
	ctx := ctxT(t, 20*time.Second)
	if _, err := e.WaitState(ctx, "t1", mesos.TASK_RUNNING); err != nil {
		t.Fatal(err)
	}
	want := "/mesos/" + e.ContainerID()
	check := func(what, content string) {
		seen := map[string]bool{}
		sc := bufio.NewScanner(strings.NewReader(content))
		for sc.Scan() {
			parts := strings.SplitN(sc.Text(), ":", 3)
			if len(parts) != 3 {
				continue
			}
			for _, c := range strings.Split(parts[1], ",") {
				if (c == "cpu" || c == "memory" || c == "freezer") && parts[2] == want {
					seen[c] = true
				}
			}
		}
		if len(seen) != 3 {
			t.Errorf("%s: want cpu, memory, freezer at %s, got %v in\n%s", what, want, seen, content)
		}
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(e.PID()) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	check("/proc/pid/cgroup", string(b))
	// What the executor saw at its very start (no placement race).
	b, err = os.ReadFile(filepath.Join(e.Sandbox(), "cgroup.txt"))
	if err != nil {
		t.Fatal(err)
	}
	check("cgroup at start", string(b))
	paths := e.CgroupPaths()
	readInt := func(p string) int64 {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return n
	}
	if got := readInt(filepath.Join(paths["cpu"], "cpu.shares")); got != 614 {
		t.Errorf("cpu.shares %d, want 614 (0.6 cpus)", got)
	}
	if got := readInt(filepath.Join(paths["cpu"], "cpu.cfs_quota_us")); got != 60000 {
		t.Errorf("cpu.cfs_quota_us %d, want 60000", got)
	}
	if got := readInt(filepath.Join(paths["memory"], "memory.limit_in_bytes")); got != 96<<20 {
		t.Errorf("memory.limit_in_bytes %d, want %d", got, 96<<20)
	}
	// A nested cgroup with a process (as compod makes for its pod) is
	// killed and removed too.
	nested := filepath.Join(paths["freezer"], "child")
	if err := os.Mkdir(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := e.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for c, p := range paths {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s cgroup %s not removed: %v", c, p, err)
		}
	}
}

// ---- protocol: the test speaks the executor API itself ----

type rawExec struct {
	t      *testing.T
	a      *Agent
	e      *Executor
	fwID   string
	execID string
}

func (r *rawExec) post(ct, accept string, body []byte) *http.Response {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+r.a.Endpoint()+"/api/v1/executor", bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp
}

func (r *rawExec) call(c *executor.Call) []byte {
	c.FrameworkID = mesos.FrameworkID{Value: r.fwID}
	c.ExecutorID = mesos.ExecutorID{Value: r.execID}
	b, err := c.Marshal()
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

func (r *rawExec) status(code int, ct, accept string, body []byte) {
	r.t.Helper()
	resp := r.post(ct, accept, body)
	resp.Body.Close()
	if resp.StatusCode != code {
		r.t.Errorf("status %d, want %d", resp.StatusCode, code)
	}
}

func newRaw(t *testing.T, cfg Config) *rawExec {
	a := startAgent(t, cfg)
	f := fw()
	e, err := a.LaunchExecutor(ctxT(t, 10*time.Second), fakeExecInfo(t, "exec-raw", "sleep"), f, task("t1"))
	if err != nil {
		t.Fatal(err)
	}
	return &rawExec{t: t, a: a, e: e, fwID: f.ID.Value, execID: "exec-raw"}
}

func running(id string) *executor.Call {
	st := mesos.TASK_RUNNING
	src := mesos.SOURCE_EXECUTOR
	return &executor.Call{Type: executor.Call_UPDATE, Update: &executor.Call_Update{Status: mesos.TaskStatus{
		TaskID: mesos.TaskID{Value: id}, State: &st, Source: &src, UUID: uuidBytes()}}}
}

func TestProtocolErrors(t *testing.T) {
	r := newRaw(t, Config{})
	pb := "application/x-protobuf"

	resp, err := http.Get("http://" + r.a.Endpoint() + "/api/v1/executor")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: %d Allow=%q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	sub := r.call(&executor.Call{Type: executor.Call_SUBSCRIBE, Subscribe: &executor.Call_Subscribe{}})
	r.status(400, "", pb, sub)                             // no Content-Type
	r.status(415, "text/plain", pb, sub)                   // unsupported media type
	r.status(400, pb, pb, []byte("\xff\xff\xff garbage"))  // malformed protobuf
	r.status(400, "application/json", pb, []byte("{oops")) // malformed JSON
	r.status(406, pb, "text/plain", sub)                   // nothing acceptable
	r.status(202, pb, "", r.call(&executor.Call{Type: executor.Call_HEARTBEAT}))

	// Wrong framework / executor ids.
	bad := *r
	bad.fwID = "nope"
	r.status(400, pb, pb, bad.call(&executor.Call{Type: executor.Call_SUBSCRIBE, Subscribe: &executor.Call_Subscribe{}}))
	bad = *r
	bad.execID = "nope"
	r.status(400, pb, pb, bad.call(&executor.Call{Type: executor.Call_SUBSCRIBE, Subscribe: &executor.Call_Subscribe{}}))
	// SUBSCRIBE without 'subscribe'.
	r.status(400, pb, pb, r.call(&executor.Call{Type: executor.Call_SUBSCRIBE}))
	// UPDATE before SUBSCRIBE: 403 "Executor is not subscribed".
	r.status(403, pb, "", r.call(running("t1")))
	if recs := r.e.Records(); len(recs) != 0 {
		t.Errorf("update of an unsubscribed executor recorded: %v", recs)
	}
	// Invalid updates: no uuid, wrong source, TASK_STAGING.
	c := running("t1")
	c.Update.Status.UUID = nil
	r.status(400, pb, "", r.call(c))
	c = running("t1")
	src := mesos.SOURCE_AGENT
	c.Update.Status.Source = &src
	r.status(400, pb, "", r.call(c))
	c = running("t1")
	staging := mesos.TASK_STAGING
	c.Update.Status.State = &staging
	r.status(400, pb, "", r.call(c))
}

// A JSON subscription: 200, chunked RecordIO, Content-Type from Accept, no
// Mesos-Stream-Id; SUBSCRIBED then LAUNCH; UPDATE → 202 and ACKNOWLEDGED;
// HEARTBEAT events.
func TestProtocolJSONStream(t *testing.T) {
	r := newRaw(t, Config{HeartbeatInterval: 200 * time.Millisecond})
	body := `{"type":"SUBSCRIBE","framework_id":{"value":"` + r.fwID + `"},"executor_id":{"value":"` + r.execID + `"},"subscribe":{}}`
	resp := r.post("application/json", "application/json", []byte(body))
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("subscribe: %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || resp.ContentLength != -1 {
		t.Errorf("transfer encoding %v, length %d", resp.TransferEncoding, resp.ContentLength)
	}
	if v := resp.Header.Get("Mesos-Stream-Id"); v != "" {
		t.Errorf("Mesos-Stream-Id %q (the executor API has none)", v)
	}
	rd := recordio.NewReader(resp.Body)
	next := func() (map[string]any, executor.Event) {
		t.Helper()
		b, err := rd.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		var ev executor.Event
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		return m, ev
	}
	m, ev := next()
	if m["type"] != "SUBSCRIBED" || ev.Subscribed == nil || ev.Subscribed.ContainerID.GetValue() != r.e.ContainerID() ||
		ev.Subscribed.FrameworkInfo.ID.GetValue() != r.fwID || ev.Subscribed.AgentInfo.ID.GetValue() != r.a.ID() {
		t.Fatalf("first event %v", m)
	}
	m, ev = next()
	if m["type"] != "LAUNCH" || ev.Launch.Task.TaskID.Value != "t1" || ev.Launch.Task.AgentID.Value != r.a.ID() {
		t.Fatalf("second event %v", m)
	}
	up := running("t1")
	r.status(202, "application/x-protobuf", "", r.call(up))
	r.status(202, "application/x-protobuf", "", r.call(&executor.Call{Type: executor.Call_MESSAGE, Message: &executor.Call_Message{Data: []byte("x")}}))
	sawAck, sawHB := false, false
	for !(sawAck && sawHB) {
		m, ev = next()
		switch ev.Type {
		case executor.Event_ACKNOWLEDGED:
			if !bytes.Equal(ev.Acknowledged.UUID, up.Update.Status.UUID) || ev.Acknowledged.TaskID.Value != "t1" {
				t.Errorf("ack %v", m)
			}
			sawAck = true
		case executor.Event_HEARTBEAT:
			sawHB = true
		default:
			t.Fatalf("unexpected %v", m)
		}
	}
	// A second SUBSCRIBE replaces the first stream.
	resp2 := r.post("application/x-protobuf", "application/x-protobuf", r.call(&executor.Call{Type: executor.Call_SUBSCRIBE, Subscribe: &executor.Call_Subscribe{}}))
	defer resp2.Body.Close()
	if resp2.StatusCode != 200 || resp2.Header.Get("Content-Type") != "application/x-protobuf" {
		t.Fatalf("resubscribe %d %q", resp2.StatusCode, resp2.Header.Get("Content-Type"))
	}
	b, err := recordio.NewReader(resp2.Body).ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	var ev2 executor.Event
	if err := ev2.Unmarshal(b); err != nil || ev2.Type != executor.Event_SUBSCRIBED {
		t.Fatalf("%v %v", ev2.Type, err)
	}
	if _, err := rd.ReadFrame(); err == nil {
		// The old stream may still carry a heartbeat; it must then end.
		for err == nil {
			_, err = rd.ReadFrame()
		}
	}
	if n := r.e.Subscriptions(); n != 2 {
		t.Errorf("subscriptions %d", n)
	}
}

// The fetcher copies ExecutorInfo.command.uris into the sandbox before the
// executor starts; a failed fetch fails the launch.
func TestFetchURIs(t *testing.T) {
	a := startAgent(t, Config{})
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "docker-compose.yml"), []byte("services: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "run.sh"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	yes := true
	out := "app/override.yml"
	info := fakeExecInfo(t, "exec-fetch", "finish")
	info.Command.URIs = []mesos.CommandInfo_URI{
		{Value: filepath.Join(src, "docker-compose.yml")},
		{Value: "file://" + filepath.Join(src, "docker-compose.yml"), OutputFile: &out},
		{Value: filepath.Join(src, "run.sh"), Executable: &yes},
	}
	e, err := a.LaunchExecutor(ctxT(t, 10*time.Second), info, fw(), task("t1"))
	if err != nil {
		t.Fatal(err)
	}
	defer dumpLogs(t, e)
	if _, err := e.WaitState(ctxT(t, 20*time.Second), "t1", mesos.TASK_FINISHED); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"docker-compose.yml": 0o644, "app/override.yml": 0o644, "run.sh": 0o755} {
		fi, err := os.Stat(filepath.Join(e.Sandbox(), name))
		if err != nil {
			t.Error(err)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}

	bad := fakeExecInfo(t, "exec-fetch-bad", "finish")
	bad.Command.URIs = []mesos.CommandInfo_URI{{Value: filepath.Join(src, "missing.yml")}}
	e2, err := a.LaunchExecutor(ctxT(t, 10*time.Second), bad, fw(), task("t2"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := e2.WaitState(ctxT(t, 5*time.Second), "t2", mesos.TASK_FAILED)
	if err != nil {
		t.Fatal(err)
	}
	if st.GetReason() != mesos.REASON_CONTAINER_LAUNCH_FAILED || !strings.Contains(st.GetMessage(), "missing.yml") {
		t.Errorf("%v %q", st.GetReason(), st.GetMessage())
	}
	if ex, _ := e2.Wait(ctxT(t, 5*time.Second)); ex.Launched || e2.PID() != 0 {
		t.Errorf("launched after a failed fetch: %+v", ex)
	}
}
