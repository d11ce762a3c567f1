package runtime_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// compose's `init: true`: compod-init is PID 1, the service's program its
// child. A program with no SIGTERM handler then stops on SIGTERM (as PID 1
// the kernel would shield it: only the grace period's SIGKILL would end
// it), and the service's exit code is the program's.
func TestServiceInit(t *testing.T) {
	h := newHarness(t)
	const pod = "init-svc"
	h.up(h.compose(pod, fmt.Sprintf(`
services:
  sleeper:
    image: %[1]s
    init: true
    command: ["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; exec sleep 3600"]
    stop_grace_period: 10s
  plain:
    image: %[1]s
    command: ["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; sleep 3600"]
    stop_grace_period: 1s
`, testenv.BusyboxRef), nil))
	waitFor(t, 10*time.Second, "the services printed PID 1's command line", func() (bool, string) {
		a, b := h.logsOf(pod, "sleeper"), h.logsOf(pod, "plain")
		return strings.Contains(a, "\n") && strings.Contains(b, "\n"), a + b
	})
	if out := h.logsOf(pod, "sleeper"); !strings.HasPrefix(out, "/sbin/compod-init -- sh -c") {
		t.Errorf("PID 1 of the init: true service is %q, want /sbin/compod-init running the command", out)
	}
	if out := h.logsOf(pod, "plain"); !strings.HasPrefix(out, "sh -c") {
		t.Errorf("PID 1 of the plain service is %q, want the command itself", out)
	}
	// sleep as the init's child dies of SIGTERM at once; without the init
	// it would wait for the 10 s grace period's SIGKILL.
	start := time.Now()
	if err := h.eng.Stop(h.ctx, pod, runtime.DownOptions{}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("stopping a SIGTERM-deaf program under init took %v: the signal did not reach it", took)
	}
	h.down(pod)

	// The service's exit code is its program's, through the init.
	const exits = "init-exit"
	h.up(h.compose(exits, fmt.Sprintf(`
services:
  exits:
    image: %s
    init: true
    command: ["sh", "-c", "exit 3"]
`, testenv.BusyboxRef), nil))
	waitFor(t, 10*time.Second, "exits to end", func() (bool, string) {
		st, err := h.eng.Status(h.ctx, exits)
		if err != nil {
			return false, err.Error()
		}
		s := st.Services[0]
		if s.ExitCode == nil {
			return false, s.State
		}
		if *s.ExitCode != 3 {
			t.Errorf("exits ended with %d through the init, want the command's 3", *s.ExitCode)
		}
		return true, ""
	})
	h.down(exits)
}
