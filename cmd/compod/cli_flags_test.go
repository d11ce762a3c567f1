package main_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// The global flags work before and after the command, and win over the
// environment; up -d's supervisor runs with them too (its environment is
// up's, which points elsewhere): it restarts a failing service.
func TestGlobalFlagsBeforeAndAfterCommand(t *testing.T) {
	c := newCLI(t)
	const pod = "cli-flagpod"
	c.write("compose.yaml", fmt.Sprintf(`
services:
  flaky:
    image: %[1]s
    command: ["sh", "-c", "echo run; sleep 0.3; exit 1"]
    restart: on-failure:1
  idle:
    image: %[1]s
    command: ["sleep", "3600"]
    stop_grace_period: 1s
`, testenv.BusyboxRef))
	// An environment that leads nowhere: only the flags can make it work.
	wrongState := t.TempDir()
	env := append(os.Environ(),
		"CONTAINERD_ADDRESS=/nonexistent/containerd.sock",
		"CONTAINERD_NAMESPACE=cli-wrong-namespace",
		"COMPOD_STATE_DIR="+wrongState,
		"COMPOD_CNI_BIN_DIR=/nonexistent",
	)
	globals := []string{"--address", testenv.Address(), "--namespace", testenv.Namespace, "--state-dir", c.stateDir, "--cni-bin-dir=/usr/lib/cni:/opt/cni/bin"}
	before := func(args ...string) []string { return append(append([]string{}, globals...), args...) }
	after := func(args ...string) []string { return append(args, globals...) }

	if out, errOut, code := c.runEnv(env, before("up", "-d", "-f", "compose.yaml", "-p", pod)...); code != 0 {
		t.Fatalf("compod GLOBALS up -d exited %d: %s %s", code, out, errOut)
	}
	defer func() {
		if _, errOut, code := c.runEnv(env, after("down", "-p", pod, "-t", "1")...); code != 0 {
			t.Errorf("compod down GLOBALS exited %d: %s", code, errOut)
		}
		c.assertGone(pod)
		if ents, _ := os.ReadDir(wrongState); len(ents) != 0 {
			t.Errorf("the state dir of the environment was used: %v", ents)
		}
	}()
	// ps with the flags after, then before the command; the supervisor
	// restarts flaky once, then it stays exited.
	var pods []runtime.PodStatus
	deadline := time.Now().Add(20 * time.Second)
	for round := 0; ; round++ {
		args := after("ps", "-p", pod, "--format", "json")
		if round%2 == 1 {
			args = before("ps", "-p", pod, "--format", "json")
		}
		out, errOut, code := c.runEnv(env, args...)
		if code != 0 {
			t.Fatalf("compod %q exited %d: %s", args, code, errOut)
		}
		pods = nil
		if err := json.Unmarshal([]byte(out), &pods); err != nil {
			t.Fatalf("ps json: %v: %s", err, out)
		}
		if len(pods) == 1 && flakyRestartedOnce(pods[0]) && round > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("want flaky restarted once by the supervisor, then exited 1; ps: %+v", pods)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// flaky failed for good: the supervisor's failure policy stops the pod.
	if st := pods[0].State; st != runtime.PhaseFailed && st != runtime.PhaseStopping {
		t.Errorf("ps: pod %s, want failed (or stopping) once flaky failed for good", st)
	}
	// Mixed: some global flags before the command, some after.
	out, errOut, code := c.runEnv(env, "--address", testenv.Address(), "--state-dir", c.stateDir, "ps", "--namespace", testenv.Namespace)
	if code != 0 || !strings.Contains(out, pod) || !strings.Contains(out, "flaky") {
		t.Errorf("compod --address A --state-dir S ps --namespace N: exit %d, %q %s", code, out, errOut)
	}
}

func flakyRestartedOnce(p runtime.PodStatus) bool {
	for _, s := range p.Services {
		if s.Name == "flaky" {
			return s.Restarts == 1 && s.State == runtime.StateExited && s.ExitCode != nil && *s.ExitCode == 1
		}
	}
	return false
}

// With containerd unreachable, ps lists the pods from their records and
// says that containerd is unreachable, and logs prints the services'
// output: both exit 0.
func TestPsLogsWithoutContainerd(t *testing.T) {
	c := newCLI(t)
	const pod = "cli-nocontainerd"
	c.write("compose.yaml", fmt.Sprintf(`
services:
  talker:
    image: %[1]s
    command: ["sh", "-c", "echo said-before-the-outage; exec sleep 3600"]
    stop_grace_period: 1s
`, testenv.BusyboxRef))
	if _, errOut, code := c.run("up", "-d", "-p", pod); code != 0 {
		t.Fatalf("up -d exited %d: %s", code, errOut)
	}
	defer func() {
		if _, errOut, code := c.run("down", "-p", pod, "-t", "1"); code != 0 {
			t.Errorf("down exited %d: %s", code, errOut)
		}
		c.assertGone(pod)
	}()
	poll(t, 10*time.Second, "talker's first line", func() bool {
		b, _ := os.ReadFile(filepath.Join(c.stateDir, "pods", pod, "logs", "talker.log"))
		return strings.Contains(string(b), "said-before-the-outage")
	})
	down := "--address=" + filepath.Join(t.TempDir(), "containerd.sock") // no containerd there

	out, errOut, code := c.run("ps", down)
	if code != 0 {
		t.Fatalf("ps with containerd unreachable exited %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "containerd is unreachable") {
		t.Errorf("ps stderr %q does not say containerd is unreachable", errOut)
	}
	if !strings.Contains(out, pod) || !strings.Contains(out, "talker") || !strings.Contains(out, "unknown (containerd unreachable)") {
		t.Errorf("ps with containerd unreachable:\n%s", out)
	}
	out, _, code = c.run("ps", "-p", pod, "--format", "json", down)
	var pods []runtime.PodStatus
	if err := json.Unmarshal([]byte(out), &pods); err != nil || code != 0 {
		t.Fatalf("ps json: %v (exit %d): %s", err, code, out)
	}
	if len(pods) != 1 || pods[0].Name != pod || pods[0].State != runtime.StateUnknown || pods[0].IP == "" ||
		len(pods[0].Services) != 1 || pods[0].Services[0].State != runtime.StateUnknown {
		t.Errorf("ps json with containerd unreachable: %+v", pods)
	}

	out, errOut, code = c.run(down, "logs", "-p", pod)
	if code != 0 || !strings.Contains(out, "talker | said-before-the-outage") {
		t.Errorf("logs with containerd unreachable: exit %d, %q %s", code, out, errOut)
	}
	// The pod itself is untouched: with containerd back, ps says running.
	if out, _, _ := c.run("ps", "-p", pod); !strings.Contains(out, "running") {
		t.Errorf("ps after: %s", out)
	}
}
