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
