package runtime_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

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

// What compod keeps of a pod is root's: service output and health-check
// output can hold secrets. What services read through bind mounts (/etc
// files, volumes) stays readable for a service running as another user.
// The modes hold whatever the umask: this one takes "other" read away, so
// compod must set the modes of what services read explicitly, and leaves
// "other" execute, so a mode asked for too wide still shows.
func TestPodStateFilesArePrivate(t *testing.T) {
	h := newHarness(t)
	old := syscall.Umask(0o026)
	t.Cleanup(func() { syscall.Umask(old) })
	pod := "private"
	plan := h.compose(pod, fmt.Sprintf(`
services:
  checked:
    image: %[1]s
    command: ["sh", "-c", "echo secret-output; echo secret-error >&2; exec sleep 3600"]
    volumes: ["data:/data"]
    healthcheck:
      test: ["CMD", "echo", "probe-output"]
      interval: 200ms
  reader:
    image: %[1]s
    user: "1000:1000"
    command: ["sh", "-c", "cat /etc/hosts /etc/resolv.conf /etc/hostname >/dev/null && ls /data >/dev/null && echo reader-ok"]
    volumes: ["data:/data:ro"]
volumes:
  data: {}
`, testenv.BusyboxRef), nil)
	h.up(plan)
	defer h.down(pod)

	podDir := filepath.Join(h.stateDir, "pods", pod)
	waitFor(t, 10*time.Second, "monitor.json with the health of checked", func() (bool, string) {
		b, err := os.ReadFile(filepath.Join(podDir, "monitor.json"))
		return err == nil && strings.Contains(string(b), "probe-output"), string(b)
	})
	want := map[string]fs.FileMode{
		filepath.Join(h.stateDir, "pods"):     fs.ModeDir | 0o710,
		podDir:                                fs.ModeDir | 0o710,
		filepath.Join(podDir, "pod.json"):     0o600,
		filepath.Join(podDir, "monitor.json"): 0o600,
		filepath.Join(podDir, "logs"):         fs.ModeDir | 0o750,
		filepath.Join(podDir, "etc"):          fs.ModeDir | 0o755,
		filepath.Join(podDir, "etc", "hosts"): 0o644,
		// Named volumes outlive the pod, outside its directory.
		filepath.Join(h.stateDir, "volumes"):              fs.ModeDir | 0o701,
		filepath.Join(h.stateDir, "volumes", pod+"_data"): fs.ModeDir | 0o755,
	}
	for _, svc := range []string{"checked", "reader"} {
		want[filepath.Join(podDir, "logs", svc+".log")] = 0o640
	}
	for path, mode := range want {
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			t.Errorf("%v", err)
		case fi.Mode() != mode:
			t.Errorf("%s: mode %v, want %v", strings.TrimPrefix(path, h.stateDir+"/"), fi.Mode(), mode)
		}
	}
	// Nothing else (the pause container's logs, ...) is readable by other
	// users; etc and volumes are the services' and were checked above.
	err := filepath.WalkDir(podDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == filepath.Join(podDir, "etc") || path == filepath.Join(podDir, "volumes") {
			return fs.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o004 != 0 {
			t.Errorf("%s is readable by everyone (mode %v)", strings.TrimPrefix(path, h.stateDir+"/"), fi.Mode())
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	waitFor(t, 10*time.Second, "reader's output", func() (bool, string) {
		out := h.logsOf(pod, "reader")
		return strings.Contains(out, "reader-ok"), out
	})
}
