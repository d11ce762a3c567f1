package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// cli runs the real compod binary against the private containerd, with a
// state dir of the test's own.
type cli struct {
	t        *testing.T
	bin      string
	stateDir string
	dir      string
}

func newCLI(t *testing.T) *cli {
	c := testenv.Client(t)
	testenv.EnsureImages(t, c)
	return &cli{t: t, bin: testenv.CompodBinary(t), stateDir: t.TempDir(), dir: t.TempDir()}
}

func (c *cli) env() []string {
	return append(os.Environ(),
		"CONTAINERD_ADDRESS="+testenv.Address(),
		"CONTAINERD_NAMESPACE="+testenv.Namespace,
		"COMPOD_STATE_DIR="+c.stateDir,
		"COMPOD_CNI_BIN_DIR=/usr/lib/cni:/opt/cni/bin",
	)
}

// run runs compod and returns stdout, stderr and the exit code.
func (c *cli) run(args ...string) (string, string, int) {
	c.t.Helper()
	return c.runEnv(c.env(), args...)
}

// runEnv is run with the environment env.
func (c *cli) runEnv(env []string, args ...string) (string, string, int) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env, cmd.Dir = env, c.dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("compod %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// assertGone checks that a removed pod left no container, netns or state.
func (c *cli) assertGone(pod string) {
	c.t.Helper()
	ctrs, err := testenv.Client(c.t).Containers(testenv.Context(c.t), `labels."compod.pod"==`+pod)
	if err != nil || len(ctrs) != 0 {
		c.t.Errorf("containers of %s after down: %d (%v)", pod, len(ctrs), err)
	}
	if _, err := os.Stat("/run/netns/compod-" + runtime.InstanceID(c.stateDir, testenv.Namespace) + "-" + pod); err == nil {
		c.t.Errorf("netns of %s still pinned after down", pod)
	}
	if _, err := os.Stat(filepath.Join(c.stateDir, "pods", pod)); err == nil {
		c.t.Errorf("state of %s left after down", pod)
	}
}

func (c *cli) write(name, content string) string {
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		c.t.Fatal(err)
	}
	return p
}

func TestUpDetachedPsLogsDown(t *testing.T) {
	c := newCLI(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c.write(".env", "GREETING=hello-from-dotenv\n")
	c.write("compose.yaml", fmt.Sprintf(`
services:
  web:
    image: %s
    command: ["-listen", ":8080"]
    environment:
      TESTAPP_GREETING: ${GREETING}
    ports: ["127.0.0.1:%d:8080"]
  talker:
    image: %s
    command: ["sh", "-c", "echo to-stdout; echo to-stderr >&2; exec sleep 3600"]
`, testenv.TestappRef, port, testenv.BusyboxRef))
	out, errOut, code := c.run("up", "-d", "-p", "clipod")
	if code != 0 {
		t.Fatalf("up -d exited %d: %s %s", code, out, errOut)
	}
	defer func() {
		if _, e, code := c.run("down", "-p", "clipod", "-t", "1"); code != 0 {
			t.Errorf("down exited %d: %s", code, e)
		}
		// After down, ps knows nothing of the pod and nothing is left.
		out, _, _ := c.run("ps", "--format", "json")
		if strings.Contains(out, "clipod") {
			t.Errorf("ps after down still shows the pod: %s", out)
		}
		c.assertGone("clipod")
	}()
	if !strings.Contains(out, fmt.Sprintf("127.0.0.1:%d -> 8080/tcp", port)) || !strings.Contains(out, "ip 10.89.") {
		t.Errorf("up -d printed %q, want the pod IP and port mapping", out)
	}
	// up -d returns once the tasks have started; the server needs a moment
	// more to listen.
	var body []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(string(body), "hello-from-dotenv") {
		t.Errorf("web answered %q, want the greeting interpolated from .env", body)
	}

	out, _, code = c.run("ps", "--format", "json")
	var pods []runtime.PodStatus
	if err := json.Unmarshal([]byte(out), &pods); err != nil || code != 0 {
		t.Fatalf("ps json: %v (exit %d): %s", err, code, out)
	}
	if len(pods) != 1 || pods[0].Name != "clipod" || len(pods[0].Services) != 2 || pods[0].State != runtime.PhaseRunning {
		t.Fatalf("ps = %+v", pods)
	}
	for _, s := range pods[0].Services {
		if s.State != runtime.StateRunning || s.PID == 0 {
			t.Errorf("ps: %s is %s pid %d", s.Name, s.State, s.PID)
		}
	}
	table, _, _ := c.run("ps")
	if !strings.Contains(table, "clipod") || !strings.Contains(table, "running") {
		t.Errorf("ps table:\n%s", table)
	}
	// The pod's own row says its phase.
	if !regexp.MustCompile(`(?m)^clipod +- +running `).MatchString(table) {
		t.Errorf("ps table has no pod row saying running:\n%s", table)
	}

	var logs string
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		logs, _, _ = c.run("logs", "-p", "clipod", "talker")
		if strings.Contains(logs, "to-stderr") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logs, "to-stdout") || !strings.Contains(logs, "to-stderr") {
		t.Errorf("logs talker = %q", logs)
	}
	// One file holds both streams, each line once, marked: --stream
	// shows one.
	if out, _, _ := c.run("logs", "-p", "clipod", "talker", "--stream", "stdout"); strings.TrimSpace(out) != "to-stdout" {
		t.Errorf("logs --stream stdout = %q", out)
	}
	if out, _, _ := c.run("logs", "-p", "clipod", "talker", "--stream=stderr"); strings.TrimSpace(out) != "to-stderr" {
		t.Errorf("logs --stream stderr = %q", out)
	}
	logFile := filepath.Join(c.stateDir, "pods", "clipod", "logs", "talker.log")
	if b, _ := os.ReadFile(logFile); strings.Count(string(b), "to-stdout") != 1 || !strings.Contains(string(b), " stderr F to-stderr\n") {
		t.Errorf("%s = %q", logFile, b)
	}
	if files, _ := filepath.Glob(filepath.Join(c.stateDir, "pods", "clipod", "logs", "*")); len(files) != 2 {
		t.Errorf("log files %v: want talker.log and the other service's only", files)
	}
}

// In the foreground, up prefixes output with the service name and exits
// with the failing service's code; logs still work afterwards.
func TestUpForegroundExitCode(t *testing.T) {
	c := newCLI(t)
	c.write("compose.yaml", fmt.Sprintf(`
services:
  worker:
    image: %s
    command: ["sh", "-c", "echo working; sleep 0.5; exit 3"]
  idle:
    image: %s
    command: ["sleep", "3600"]
    stop_grace_period: 1s
`, testenv.BusyboxRef, testenv.BusyboxRef))
	start := time.Now()
	out, errOut, code := c.run("up", "-p", "fgpod")
	defer func() {
		c.run("down", "-p", "fgpod")
		c.assertGone("fgpod")
	}()
	if code != 3 {
		t.Errorf("up exited %d, want 3 (worker's code); stderr: %s", code, errOut)
	}
	if !strings.Contains(out, "worker | working") {
		t.Errorf("foreground output %q lacks the prefixed line", out)
	}
	if !strings.Contains(errOut, `service "worker" exited with code 3`) {
		t.Errorf("stderr %q does not say which service failed", errOut)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("up took %v: it should return once worker failed", took)
	}
	logs, _, _ := c.run("logs", "-p", "fgpod", "worker")
	if !strings.Contains(logs, "working") {
		t.Errorf("logs after exit = %q", logs)
	}
	ps, _, _ := c.run("ps", "-p", "fgpod")
	if !strings.Contains(ps, "exited") {
		t.Errorf("ps after foreground up:\n%s", ps)
	}
}

// Bad input: the error names the file, service and field; nothing is made.
func TestUpBadInput(t *testing.T) {
	c := newCLI(t)
	f := c.write("bad.yaml", `
services:
  web:
    build: .
`)
	_, errOut, code := c.run("up", "-d", "-f", f, "-p", "badpod")
	if code == 0 {
		t.Fatal("up with a build-only service succeeded")
	}
	for _, want := range []string{"bad.yaml", `"web"`, "build"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error %q does not name %q", errOut, want)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(c.stateDir, "pods")); len(ents) != 0 {
		t.Errorf("a failed up left pod state: %v", ents)
	}
	_, errOut, code = c.run("up", "-d", "-f", filepath.Join(c.dir, "missing.yaml"))
	if code == 0 || !strings.Contains(errOut, "missing.yaml") {
		t.Errorf("missing file: exit %d, %q", code, errOut)
	}
	_, errOut, code = c.run("down", "-p", "nosuchpod")
	if code == 0 || !strings.Contains(errOut, "nosuchpod") {
		t.Errorf("down of an unknown pod: exit %d, %q", code, errOut)
	}
}

// After `up -d` returns, a detached supervisor keeps restart policies,
// health checks and the failure policy working; `down` stops it before
// removing the pod.
func TestUpDetachedKeepsSupervising(t *testing.T) {
	c := newCLI(t)
	c.write("compose.yaml", fmt.Sprintf(`
services:
  flaky:
    image: %[1]s
    command: ["sh", "-c", "echo run; sleep 0.5; exit 1"]
    restart: on-failure:2
  checked:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "test", "-f", "/etc/hostname"]
      interval: 300ms
`, testenv.BusyboxRef))
	if _, errOut, code := c.run("up", "-d", "-p", "superpod"); code != 0 {
		t.Fatalf("up -d exited %d: %s", code, errOut)
	}
	// The supervisor's log repeats health-check output: root's only.
	for _, name := range []string{"supervisor.log", "supervisor.pid"} {
		p := filepath.Join(c.stateDir, "pods", "superpod", name)
		if fi, err := os.Stat(p); err != nil {
			t.Error(err)
		} else if fi.Mode() != 0o600 {
			t.Errorf("%s: mode %v, want -rw-------", name, fi.Mode())
		}
	}
	defer func() {
		pid := c.supervisorPID("superpod")
		if _, e, code := c.run("down", "-p", "superpod", "-t", "1"); code != 0 {
			t.Errorf("down exited %d: %s", code, e)
		}
		if pid == 0 {
			t.Error("up -d recorded no supervisor")
		} else if processAlive(strconv.Itoa(pid)) {
			t.Errorf("supervisor %d still running after down", pid)
		}
		c.assertGone("superpod")
	}()
	var pods []runtime.PodStatus
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _, _ := c.run("ps", "-p", "superpod", "--format", "json")
		pods = nil
		json.Unmarshal([]byte(out), &pods)
		done := len(pods) == 1 && pods[0].State == runtime.PhaseFailed
		for _, s := range pods[0:min(len(pods), 1)] {
			for _, svc := range s.Services {
				switch svc.Name {
				case "flaky":
					done = done && svc.Restarts == 2 && svc.State == runtime.StateExited && svc.ExitCode != nil && *svc.ExitCode == 1
				case "checked":
					done = done && svc.Health == runtime.HealthHealthy
				}
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after up -d: want flaky restarted twice then exited 1, checked healthy, the pod failed; ps: %+v", pods)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Past its restarts flaky fails the pod: the supervisor stops it.
	if p := pods[0]; p.State != runtime.PhaseFailed || p.Reason != runtime.ReasonServiceExit || !strings.Contains(p.Message, `service "flaky" exited with code 1 after 2 restarts`) {
		t.Errorf("ps: state %s reason %s message %q, want failed by flaky's exit", p.State, p.Reason, p.Message)
	}
	logs, _, _ := c.run("logs", "-p", "superpod", "flaky")
	if n := strings.Count(logs, "run"); n != 3 {
		t.Errorf("flaky ran %d times, want 3", n)
	}
}

// processAlive: the process exists and is not a zombie waiting for its
// (re-)parent to reap it.
func processAlive(pid string) bool {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndex(s, ")")
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// Every command checks the pod name it is given: a name is a directory of
// the state dir, and -p ../../x must not reach a pod record planted next
// to it (down would remove that directory).
func TestPodNameValidatedByEveryCommand(t *testing.T) {
	c := newCLI(t)
	outside := filepath.Join(filepath.Dir(c.stateDir), "x")
	if err := os.MkdirAll(filepath.Join(outside, "logs"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(outside) })
	c.write("compose.yaml", fmt.Sprintf("services:\n  web:\n    image: %s\n", testenv.BusyboxRef))
	planted := fmt.Sprintf(`{"plan":{"name":"x","services":[{"name":"web","image":%q}]},"namespace":%q}`, testenv.BusyboxRef, testenv.Namespace)
	if err := os.WriteFile(filepath.Join(outside, "pod.json"), []byte(planted), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "logs", "web.log"), []byte("outside-the-state-dir\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		name string
	}{
		{[]string{"down", "-p", "../../x"}, "../../x"},
		{[]string{"ps", "-p", "../../x"}, "../../x"},
		{[]string{"logs", "-p", "../../x", "web"}, "../../x"},
		{[]string{"up", "-d", "-p", "../../x"}, "../../x"},
		{[]string{"down", "-p", "-x"}, "-x"},
		{[]string{"ps", "-p", "x--y"}, "x--y"},
	} {
		out, errOut, code := c.run(tt.args...)
		if code == 0 || strings.Contains(out, "outside-the-state-dir") {
			t.Errorf("compod %v: exit %d, output %q: want it refused", tt.args, code, out)
		}
		if want := fmt.Sprintf("pod (project) name %q is invalid", tt.name); !strings.Contains(errOut, want) {
			t.Errorf("compod %v: stderr %q does not say %q", tt.args, errOut, want)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "pod.json")); err != nil {
		t.Errorf("a command reached outside the state dir: %v", err)
	}
}

// A service name compose does not accept is an error naming the file and
// the service before anything is made.
func TestUpRejectsBadServiceName(t *testing.T) {
	c := newCLI(t)
	c.write("compose.yaml", fmt.Sprintf("services:\n  ..:\n    image: %s\n", testenv.BusyboxRef))
	_, errOut, code := c.run("up", "-d", "-p", "badname")
	if code == 0 {
		t.Fatal("up with service name .. succeeded")
	}
	if want := `compose.yaml: service "..": invalid service name ".."`; !strings.Contains(errOut, want) {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
	if ents, _ := os.ReadDir(filepath.Join(c.stateDir, "pods")); len(ents) != 0 {
		t.Errorf("a rejected up left pod state: %v", ents)
	}
}

// A pod the policy refuses is refused before anything is created (the
// image is one no registry has: a pull would fail otherwise), with every
// violation listed; the policy comes from --policy or COMPOD_POLICY.
func TestUpPolicy(t *testing.T) {
	c := newCLI(t)
	f := c.write("compose.yaml", `
services:
  web:
    image: 127.0.0.1:5000/compod-policy-never-pushed:1
    privileged: true
    volumes: ["/:/host"]
`)
	pol := c.write("policy.yaml", "allow_privileged: false\nbind_mounts: {allowed_prefixes: [/srv]}\n")
	want := []string{
		"pod policy-up is refused by the admission policy (2 violations)",
		`compose.yaml: service "web": field "volumes[0]": bind source / is not under an allowed prefix`,
		`compose.yaml: service "web": field "privileged": privileged services are not allowed (policy rule allow_privileged)`,
	}
	check := func(how string, errOut string, code int) {
		t.Helper()
		if code != 1 {
			t.Errorf("%s: exit %d, want 1; stderr %q", how, code, errOut)
		}
		for _, w := range want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s: stderr does not say %q:\n%s", how, w, errOut)
			}
		}
		c.assertGone("policy-up")
	}
	_, errOut, code := c.run("up", "-d", "-f", f, "-p", "policy-up", "--policy", pol)
	check("--policy", errOut, code)

	cmd := exec.Command(c.bin, "up", "-d", "-f", f, "-p", "policy-up")
	cmd.Env, cmd.Dir = append(c.env(), "COMPOD_POLICY="+pol), c.dir
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	check("COMPOD_POLICY", errb.String(), code)

	bad := c.write("bad-policy.yaml", "allow_privilegd: false\n")
	_, errOut, code = c.run("up", "-d", "-f", f, "-p", "policy-up", "--policy", bad)
	if code != 1 || !strings.Contains(errOut, "bad-policy.yaml") || !strings.Contains(errOut, "allow_privilegd") {
		t.Errorf("a policy file with an unknown key: exit %d, %q", code, errOut)
	}
}

// When up -d cannot record the pod's supervisor (the disk filled up: here
// the record's place is taken by a directory, which fails the write as
// ENOSPC would), no unrecorded supervisor outlives the command: up -d
// fails, says so, and removes the pod.
func TestUpDetachedSupervisorNotRecorded(t *testing.T) {
	c := newCLI(t)
	before := c.host()
	const pod = "cli-norecord"
	c.write("compose.yaml", fmt.Sprintf("services:\n  app:\n    image: %s\n    command: [\"sleep\", \"3600\"]\n", testenv.BusyboxRef))
	if err := os.MkdirAll(filepath.Join(c.stateDir, "pods", pod, "supervisor.pid", "in-the-way"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := c.run("up", "-d", "-p", pod)
	if code == 0 || !strings.Contains(errOut, "could not be handed to its supervisor, so it was removed") {
		t.Fatalf("up -d with an unwritable supervisor record: exit %d: %s", code, errOut)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if args := strings.Split(string(b), "\x00"); len(args) > 2 && args[1] == "supervise" && slices.Contains(args, "--project-name="+pod) {
			t.Errorf("an unrecorded supervisor runs: %s %q", p, args)
		}
	}
	c.assertGone(pod)
	c.assertNoLeak(before, pod)
}
