package runtime_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/compod/compod/internal/testenv"
)

// ulimits, shm_size, sysctls and no-new-privileges as the processes
// inside see them. The sysctls are pod-wide (the services share the pod's
// network and IPC namespaces): a service that sets none sees them too.
// no_new_privs is on unless a service turns it off (containerd's default,
// stricter than docker's); seccomp filters (mode 2) unless unconfined.
func TestServiceLimits(t *testing.T) {
	h := newHarness(t)
	pod := "lim-limits"
	const probe = `grep 'Max open files' /proc/self/limits | awk '{print "nofile=" $4 ":" $5}';
df -k /dev/shm | awk 'NR==2 {print "shm=" $2}';
echo "port_start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)";
echo "somaxconn=$(cat /proc/sys/net/core/somaxconn)";
echo "shmmni=$(cat /proc/sys/kernel/shmmni)";
grep NoNewPrivs /proc/self/status | awk '{print "nnp=" $2}';
grep '^Seccomp:' /proc/self/status | awk '{print "seccomp=" $2}'`
	plan := h.compose(pod, fmt.Sprintf(`
services:
  limited:
    image: %[1]s
    command: ["sh", "-c", %[2]q]
    ulimits:
      nofile: {soft: 1234, hard: 5678}
    shm_size: 96m
    sysctls:
      net.ipv4.ip_unprivileged_port_start: 1000
      net.core.somaxconn: 1234
      kernel.shmmni: 8000
    security_opt: [no-new-privileges]
  plain:
    image: %[1]s
    command: ["sh", "-c", %[2]q]
    sysctls: [net.core.somaxconn=1234]
  loosened:
    image: %[1]s
    command: ["sh", "-c", %[2]q]
    security_opt: ["no-new-privileges:false", "seccomp=unconfined"]
`, testenv.BusyboxRef, probe), nil)
	h.up(plan)
	defer h.down(pod)
	codes, err := h.eng.Wait(h.ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	for service, want := range map[string][]string{
		"limited": {"nofile=1234:5678", "shm=98304", "port_start=1000", "somaxconn=1234", "shmmni=8000", "nnp=1", "seccomp=2"},
		// docker's defaults for what the service does not set; the
		// pod's sysctls all the same.
		"plain":    {"nofile=1024:1024", "shm=65536", "port_start=1000", "somaxconn=1234", "shmmni=8000", "nnp=1", "seccomp=2"},
		"loosened": {"nnp=0", "seccomp=0"},
	} {
		out := h.logsOf(pod, service)
		if codes[service] != 0 {
			t.Errorf("%s exited %d: %q", service, codes[service], out)
			continue
		}
		lines := strings.Fields(out)
		for _, w := range want {
			if !strings.Contains(" "+strings.Join(lines, " ")+" ", " "+w+" ") {
				t.Errorf("%s: want %s in its output %q", service, w, out)
			}
		}
	}
}
