package runtime_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/compod/compod/internal/testenv"
)

// capEff reads the CapEff line of a /proc/<pid>/status text.
var capEffRe = regexp.MustCompile(`CapEff:\s*([0-9a-f]+)`)

// cap_add and cap_drop as the processes inside see them, docker's way:
// drop ALL leaves nothing, add ALL grants what the host has, names in any
// spelling work, and an added CAP_SYS_ADMIN is usable (the seccomp profile
// lets mount through).
func TestCapabilities(t *testing.T) {
	h := newHarness(t)
	self, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	hostCaps := capEffRe.FindStringSubmatch(string(self))[1]
	pod := "caps"
	plan := h.compose(pod, fmt.Sprintf(`
x-probe: &probe
  image: %s
  command: ["sh", "-c", "grep CapEff /proc/self/status"]
services:
  dropall:
    <<: *probe
    cap_drop: [ALL]
  dropall-lower:
    <<: *probe
    cap_drop: [all]
  dropall-addback:
    <<: *probe
    cap_drop: [ALL]
    cap_add: [net_bind_service]
  dropone:
    <<: *probe
    cap_drop: [CAP_NET_RAW]
  addall:
    <<: *probe
    cap_add: [ALL]
  mounter:
    <<: *probe
    cap_add: [sys_admin]
    command: ["sh", "-c", "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && grep ' /tmp/m tmpfs ' /proc/mounts && echo mount-ok"]
`, testenv.BusyboxRef), nil)
	h.up(plan)
	defer h.down(pod)
	codes, err := h.eng.Wait(h.ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	for service, want := range map[string]string{
		"dropall":         "0000000000000000",
		"dropall-lower":   "0000000000000000",
		"dropall-addback": "0000000000000400", // CAP_NET_BIND_SERVICE only
		"dropone":         "00000000a80405fb", // docker's default a80425fb without CAP_NET_RAW
		"addall":          hostCaps,
	} {
		out := h.logsOf(pod, service)
		m := capEffRe.FindStringSubmatch(out)
		switch {
		case codes[service] != 0 || m == nil:
			t.Errorf("%s exited %d: %q", service, codes[service], out)
		case m[1] != want:
			t.Errorf("%s: CapEff %s, want %s", service, m[1], want)
		}
	}
	if out := h.logsOf(pod, "mounter"); codes["mounter"] != 0 || !strings.Contains(out, "mount-ok") {
		t.Errorf("with cap_add SYS_ADMIN, mount failed (exit %d): %q", codes["mounter"], out)
	}
}
