package runtime_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

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

// The spec `compod config --oci` shows names the PID namespace each mode
// joins: the pause process's (a placeholder, as for IPC), the owner
// service's (a placeholder too), the host's (no PID namespace), or none
// (a new one).
func TestPIDNamespaceInServiceSpec(t *testing.T) {
	h := newHarness(t)
	specOf := func(plan string, service string) map[specs.LinuxNamespaceType]specs.LinuxNamespace {
		t.Helper()
		p := h.compose("hooks-pid-spec", plan, nil)
		s, err := h.eng.ServiceSpec(h.ctx, p, service)
		if err != nil {
			t.Fatalf("ServiceSpec %s: %v", service, err)
		}
		out := map[specs.LinuxNamespaceType]specs.LinuxNamespace{}
		for _, ns := range s.Linux.Namespaces {
			out[ns.Type] = ns
		}
		return out
	}
	base := fmt.Sprintf(`
services:
  app:
    image: %[1]s
  debug:
    image: %[1]s
    pid: service:app
  top:
    image: %[1]s
    pid: host
`, testenv.BusyboxRef)
	for _, tt := range []struct {
		plan, service string
		want          *specs.LinuxNamespace // nil: no PID namespace (the host's)
	}{
		{base, "app", &specs.LinuxNamespace{Type: specs.PIDNamespace}},
		{base, "debug", &specs.LinuxNamespace{Type: specs.PIDNamespace, Path: "/proc/PID_OF_app/ns/pid"}},
		{base, "top", nil},
		{base + "x-compod:\n  share_pid: true\n", "app", &specs.LinuxNamespace{Type: specs.PIDNamespace, Path: "/proc/" + runtime.PausePIDPlaceholder + "/ns/pid"}},
	} {
		got, ok := specOf(tt.plan, tt.service)[specs.PIDNamespace]
		switch {
		case tt.want == nil && ok:
			t.Errorf("%s: PID namespace %+v, want the host's (none in the spec)", tt.service, got)
		case tt.want != nil && (!ok || got != *tt.want):
			t.Errorf("%s: PID namespace %+v (present: %v), want %+v", tt.service, got, ok, *tt.want)
		}
	}
}
