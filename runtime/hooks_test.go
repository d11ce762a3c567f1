package runtime_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// readTrimmed reads a file a container wrote into a bind-mounted dir.
func readTrimmed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("reading what the pod wrote: %v", err)
		return ""
	}
	return strings.TrimSpace(string(b))
}

// post_start runs right after the task starts, as its own user, in its
// working directory, with its environment, and before the services that
// depend on the service start; pre_stop runs as the service's user before
// the stop signal. Everything is seen from outside, in the files the
// hooks and the service write into a bind mount.
func TestLifecycleHooks(t *testing.T) {
	h := newHarness(t)
	pod := "hooks-lifecycle"
	plan := h.compose(pod, fmt.Sprintf(`
services:
  app:
    image: %[1]s
    user: "1000"
    volumes: [./out:/out]
    command: ["sh", "-c", "trap 'test -f /out/pre_stop && echo hook-ran-first > /out/term; exit 0' TERM; while true; do sleep 0.1; done"]
    post_start:
      - command: ["sh", "-c", "chown 1000 /out && id -u > /out/post_start.uid && pwd > /out/post_start.cwd && echo $$GREETING > /out/post_start.env"]
        user: root
        working_dir: /tmp
        environment:
          GREETING: hello
    pre_stop:
      - command: ["sh", "-c", "id -u > /out/pre_stop"]
  checker:
    image: %[1]s
    depends_on: [app]
    volumes: ["./out:/out:ro"]
    command: ["cat", "/out/post_start.uid"]
`, testenv.BusyboxRef), nil)
	out := filepath.Join(plan.WorkingDir, "out")
	h.up(plan)
	codes := map[string]uint32{}
	waitFor(t, 30*time.Second, "checker to exit", func() (bool, string) {
		st, err := h.eng.Status(h.ctx, pod)
		if err != nil {
			return false, err.Error()
		}
		for _, s := range st.Services {
			if s.Name == "checker" && s.State == runtime.StateExited && s.ExitCode != nil {
				codes["checker"] = *s.ExitCode
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", st.Services)
	})
	if got := h.logsOf(pod, "checker"); codes["checker"] != 0 || strings.TrimSpace(got) != "0" {
		t.Errorf("checker (started after app's post_start) exited %d and read %q, want the hook's uid 0", codes["checker"], got)
	}
	for file, want := range map[string]string{"post_start.uid": "0", "post_start.cwd": "/tmp", "post_start.env": "hello"} {
		if got := readTrimmed(t, filepath.Join(out, file)); got != want {
			t.Errorf("post_start hook wrote %q to %s, want %q", got, file, want)
		}
	}
	grace := 5 * time.Second
	if err := h.eng.Down(h.ctx, pod, runtime.DownOptions{Timeout: &grace}); err != nil {
		t.Fatalf("down: %v", err)
	}
	h.assertNoLeak()
	if got := readTrimmed(t, filepath.Join(out, "pre_stop")); got != "1000" {
		t.Errorf("pre_stop hook ran as uid %q, want the service's 1000", got)
	}
	if got := readTrimmed(t, filepath.Join(out, "term")); got != "hook-ran-first" {
		t.Errorf("the service's SIGTERM handler wrote %q, want hook-ran-first (the pre_stop hook runs before the stop signal)", got)
	}
}

// A failing post_start hook fails the launch, as it fails docker compose's
// start: the error names the service, the hook, its status and output;
// the services that depend on it never start; nothing is left behind.
func TestPostStartFailureFailsLaunch(t *testing.T) {
	h := newHarness(t)
	pod := "hooks-poststart-fails"
	plan := h.compose(pod, fmt.Sprintf(`
services:
  app:
    image: %[1]s
    command: ["sleep", "1000"]
    post_start:
      - command: ["true"]
      - command: ["sh", "-c", "echo the database is not there >&2; exit 3"]
  web:
    image: %[1]s
    depends_on: [app]
    command: ["sleep", "1000"]
`, testenv.BusyboxRef), nil)
	_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{})
	if err == nil {
		h.down(pod)
		t.Fatal("up succeeded, want the post_start hook's failure")
	}
	for _, want := range []string{`service "app"`, `field "post_start[1]"`, "exited with status 3", "the database is not there"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if _, serr := h.eng.Status(h.ctx, pod); !errors.Is(serr, runtime.ErrPodNotFound) {
		t.Errorf("after the failed launch, status: %v, want the pod gone", serr)
	}
	h.assertNoLeak()
}

// pre_stop is bounded by the stop grace period: a hook that hangs is
// killed when the grace period ends, and the service is stopped anyway.
func TestPreStopBoundedByGracePeriod(t *testing.T) {
	h := newHarness(t)
	pod := "hooks-prestop-hangs"
	plan := h.compose(pod, fmt.Sprintf(`
services:
  app:
    image: %s
    command: ["sleep", "1000"]
    pre_stop:
      - command: ["sleep", "600"]
`, testenv.BusyboxRef), nil)
	h.up(plan)
	grace := 2 * time.Second
	start := time.Now()
	if err := h.eng.Down(h.ctx, pod, runtime.DownOptions{Timeout: &grace}); err != nil {
		t.Fatalf("down: %v", err)
	}
	// The grace period, then SIGKILL (up to 2s for the init alone, see
	// killAndWait) and the removal.
	if elapsed := time.Since(start); elapsed > grace+8*time.Second {
		t.Errorf("down took %v with a hanging pre_stop hook and a grace period of %v", elapsed, grace)
	}
	h.assertNoLeak()
}

// waitLog waits until a service's output contains want.
func (h *harness) waitLog(pod, service, want string) {
	h.t.Helper()
	waitFor(h.t, 30*time.Second, service+" to print "+want, func() (bool, string) {
		out := h.logsOf(pod, service)
		return strings.Contains(out, want), out
	})
}

// A service with pid: service:NAME sees NAME's processes; one without
// sees only its own; pid: host sees the host's init.
func TestPIDNamespaceOfService(t *testing.T) {
	h := newHarness(t)
	hostInit, err := os.ReadFile("/proc/1/comm")
	if err != nil {
		t.Fatal(err)
	}
	pod := "hooks-pid-service"
	look := `for i in $(seq 100); do ps | grep -q "[s]leep 1001" && echo seen && exec sleep 1000; sleep 0.1; done; echo not-seen; ps; exec sleep 1000`
	plan := h.compose(pod, fmt.Sprintf(`
services:
  app:
    image: %[1]s
    command: ["sleep", "1001"]
  debug:
    image: %[1]s
    pid: service:app
    command: ["sh", "-c", %[2]q]
  own:
    image: %[1]s
    depends_on: [debug]
    command: ["sh", "-c", "ps; sleep 1000"]
  top:
    image: %[1]s
    pid: host
    command: ["sh", "-c", "cat /proc/1/comm; sleep 1000"]
`, testenv.BusyboxRef, look), nil)
	h.up(plan)
	defer h.down(pod)
	h.waitLog(pod, "debug", "seen")
	if out := h.logsOf(pod, "debug"); strings.Contains(out, "not-seen") {
		t.Errorf("debug does not see app's processes: %s", out)
	}
	h.waitLog(pod, "own", "PID")
	if out := h.logsOf(pod, "own"); strings.Contains(out, "sleep 1001") {
		t.Errorf("own sees another service's processes:\n%s", out)
	}
	h.waitLog(pod, "top", strings.TrimSpace(string(hostInit)))
}

// With x-compod share_pid every service is in the pod's PID namespace: a
// service sees another's processes, and the pause process as PID 1.
func TestSharedPodPIDNamespace(t *testing.T) {
	h := newHarness(t)
	pod := "hooks-pid-shared"
	look := `for i in $(seq 100); do ps | grep -q "[s]leep 1000" && echo seen && break; sleep 0.1; done; echo "pid1=$(cat /proc/1/comm)"; sleep 1000`
	plan := h.compose(pod, fmt.Sprintf(`
x-compod:
  share_pid: true
services:
  app:
    image: %[1]s
    command: ["sleep", "1000"]
  other:
    image: %[1]s
    command: ["sh", "-c", %[2]q]
`, testenv.BusyboxRef, look), nil)
	h.up(plan)
	defer h.down(pod)
	h.waitLog(pod, "other", "pid1=")
	out := h.logsOf(pod, "other")
	if !strings.Contains(out, "seen") {
		t.Errorf("other does not see app's sleep in the shared PID namespace:\n%s", out)
	}
	if !strings.Contains(out, "pid1=pause") {
		t.Errorf("PID 1 is a service's process, want the pause process:\n%s", out)
	}
}

// volumes_from shares the source's volumes (an anonymous one here), read-
// only with :ro.
func TestVolumesFromShared(t *testing.T) {
	h := newHarness(t)
	pod := "hooks-volumes-from"
	plan := h.compose(pod, fmt.Sprintf(`
services:
  writer:
    image: %[1]s
    volumes: [/data]
    command: ["sh", "-c", "echo shared-data > /data/f"]
  reader:
    image: %[1]s
    volumes_from: ["writer:ro"]
    depends_on:
      writer:
        condition: service_completed_successfully
    command: ["sh", "-c", "cat /data/f; touch /data/g 2>/dev/null && echo writable || echo read-only"]
`, testenv.BusyboxRef), nil)
	h.up(plan)
	defer h.down(pod)
	codes, err := h.eng.Wait(h.ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	out := h.logsOf(pod, "reader")
	if codes["reader"] != 0 || !strings.Contains(out, "shared-data") || !strings.Contains(out, "read-only") {
		t.Errorf("reader exited %d with %q, want the writer's data, read-only", codes["reader"], out)
	}
}

// A service in another's PID namespace dies with that service's process
// (the namespace's init); when the restart policy restarts both, it joins
// the new namespace, not the dead one.
func TestPIDNamespaceRejoinedAfterRestart(t *testing.T) {
	h := newHarness(t)
	pod := "hooks-pid-restart"
	look := `for i in $(seq 100); do ps | grep -q "[s]leep 2$" && echo seen && exec sleep 999; sleep 0.1; done; echo not-seen; exec sleep 999`
	plan := h.compose(pod, fmt.Sprintf(`
services:
  app:
    image: %[1]s
    restart: on-failure
    command: ["sh", "-c", "sleep 2; exit 3"]
  debug:
    image: %[1]s
    restart: always
    pid: service:app
    command: ["sh", "-c", %[2]q]
`, testenv.BusyboxRef, look), nil)
	h.up(plan)
	defer h.down(pod)
	waitFor(t, 60*time.Second, "debug to see app's process after two restarts", func() (bool, string) {
		out := h.logsOf(pod, "debug")
		return strings.Count(out, "seen") >= 3, out
	})
	if out := h.logsOf(pod, "debug"); strings.Contains(out, "not-seen") {
		t.Errorf("debug did not see app's processes after a restart:\n%s", out)
	}
	st, err := h.eng.Status(h.ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if st.State == runtime.PhaseFailed {
		t.Errorf("pod failed: %+v", st)
	}
}
