package runtime_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// security_opt seccomp=FILE: the service runs under that profile (docker's
// format) instead of the default one: a profile that makes mkdir fail
// with EPERM is seen from inside, while a service of the same pod without
// it makes directories.
func TestSeccompProfileFile(t *testing.T) {
	h := newHarness(t)
	profile := `{"defaultAction": "SCMP_ACT_ALLOW",
	  "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
	              {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
	  "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}`
	probe := `["sh", "-c", "if busybox mkdir /tmp/probe-dir; then echo mkdir-made; else echo mkdir-refused; fi; echo probe-done; exec busybox sleep 3600"]`
	plan := h.compose("seccompfile", fmt.Sprintf(`
services:
  strict:
    image: %[1]s
    command: %[2]s
    security_opt: ["seccomp=nomkdir.json"]
  plain:
    image: %[1]s
    command: %[2]s
`, testenv.BusyboxRef, probe), map[string]string{"nomkdir.json": profile})
	h.up(plan)
	for svc, want := range map[string]string{"strict": "mkdir-refused", "plain": "mkdir-made"} {
		logs := h.logsUntil("seccompfile", svc, "probe-done")
		if !strings.Contains(logs, want) {
			t.Errorf("service %s: want %s:\n%s", svc, want, logs)
		}
	}
	h.down("seccompfile")
}

// security_opt apparmor=NAME on a host without AppArmor: up fails naming
// the service and the field, and nothing is left.
func TestAppArmorProfileWithoutAppArmor(t *testing.T) {
	if data, err := os.ReadFile("/sys/module/apparmor/parameters/enabled"); err == nil && strings.HasPrefix(string(data), "Y") {
		t.Skip("this host has AppArmor: the refusal is for hosts without it")
	}
	h := newHarness(t)
	plan := h.compose("apparmor", fmt.Sprintf("services:\n  app:\n    image: %s\n    command: [\"sleep\", \"60\"]\n    security_opt: [\"apparmor=docker-default\"]\n", testenv.BusyboxRef), nil)
	_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{})
	wantErr(t, err, `service "app": field "security_opt"`, "AppArmor is not enabled on this host")
	h.assertNoLeak()
}
