package runtime_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/compod/compod/internal/testenv"
)

// Services may set different hostnames, as under docker compose: each one
// answers `hostname` (and has /etc/hostname) with its own, a service
// without one has the pod's, and every hostname resolves in the pod to
// the pod's address, as every service name does.
func TestServiceHostnames(t *testing.T) {
	h := newHarness(t)
	probe := `["sh", "-c", "echo name=$(busybox hostname) file=$(busybox cat /etc/hostname); busybox grep -E 'frontend|backend' /etc/hosts; echo probe-done; exec busybox sleep 3600"]`
	plan := h.compose("hostnames", fmt.Sprintf(`
services:
  api:
    image: %[1]s
    hostname: backend
    command: %[2]s
  web:
    image: %[1]s
    hostname: frontend
    command: %[2]s
  worker:
    image: %[1]s
    command: %[2]s
`, testenv.BusyboxRef, probe), nil)
	rec := h.up(plan)
	for svc, want := range map[string]string{"api": "backend", "web": "frontend", "worker": "backend"} {
		logs := h.logsUntil("hostnames", svc, "probe-done")
		if !strings.Contains(logs, fmt.Sprintf("name=%s file=%s", want, want)) {
			t.Errorf("service %s: want hostname and /etc/hostname %q:\n%s", svc, want, logs)
		}
		if !strings.Contains(logs, rec.IP+"\tbackend frontend api web worker\n") {
			t.Errorf("service %s: /etc/hosts does not resolve the hostnames and the service names to the pod's address %s:\n%s", svc, rec.IP, logs)
		}
	}
	h.down("hostnames")
}
