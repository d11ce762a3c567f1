package runtime_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// devices, group_add and tmpfs options as a process inside sees them:
// the host's /dev/zero at /dev/myzero, reading zeros; the host's
// /dev/loop-control (which containers do not get by default) at /dev/lc
// with permissions r: opened for reading, refused for writing by the
// device cgroup; the devices of a directory (/dev/net: tun); the supplementary groups by name and number; tmpfs
// mounts with their mode, owner and noexec.
func TestServiceDevicesGroupsTmpfs(t *testing.T) {
	for _, dev := range []string{"/dev/loop-control", "/dev/net/tun"} {
		if _, err := os.Stat(dev); err != nil {
			t.Skipf("the host has no %s to give: %v", dev, err)
		}
	}
	h := newHarness(t)
	pod := "fields-devices"
	const probe = `echo "zero=$(head -c 4 /dev/myzero | od -An -tx1 | tr -d ' ')";
head -c 0 /dev/lc && echo lcread=ok;
if sh -c ': > /dev/lc' 2>/dev/null; then echo lcwrite=allowed; else echo lcwrite=denied; fi;
[ -e /dev/loop-control ] || echo hostpath=absent;
[ -c /dev/net/tun ] && echo tun=present;
echo "groups=$(grep '^Groups:' /proc/self/status | cut -f2 | tr '	' ' ' | tr ' ' ',')";
echo "cache=$(stat -c %a:%u:%g /cache)";
grep ' /cache ' /proc/self/mountinfo | grep -q noexec && echo cache=noexec;
echo "scratch=$(stat -c %a /scratch)";
grep ' /scratch ' /proc/self/mountinfo | grep -q noexec || echo scratch=exec;
echo probed; exec sleep 3600`
	plan := h.compose(pod, fmt.Sprintf(`
services:
  dev:
    image: %s
    command: ["sh", "-c", %q]
    devices:
      - /dev/zero:/dev/myzero:r
      - source: /dev/loop-control
        target: /dev/lc
        permissions: r
      - /dev/net
    group_add: [app, nogroup, "4321"]
    tmpfs:
      - /cache:mode=0750,uid=1000,gid=1000,noexec
    volumes:
      - type: tmpfs
        target: /scratch
        tmpfs:
          mode: 0700
`, testenv.BusyboxRef, probe), nil)
	h.up(plan)
	defer h.down(pod)
	wantProbes(t, h, pod, map[string][]string{
		"dev": {"zero=00000000", "lcread=ok", "lcwrite=denied", "hostpath=absent", "tun=present",
			"groups=0,1000,4321,65534,", "cache=750:1000:1000", "cache=noexec", "scratch=700", "scratch=exec"},
	})
}

// What only the host can tell fails the launch, naming the service, the
// field and the value, and leaves nothing behind: a host device that does
// not exist, a group the image does not have, CPUs the pod may not use.
func TestServiceHostFieldErrors(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name, service string
		want          []string
	}{
		{name: "missing device", service: "    devices: [\"/dev/null\", \"/dev/compod-no-such-device:/dev/x\"]\n",
			want: []string{`service "s": field "devices[1]"`, "host device /dev/compod-no-such-device does not exist"}},
		{name: "not a device", service: "    devices: [\"/etc/hostname:/dev/x\"]\n",
			want: []string{`service "s": field "devices[0]"`, "/etc/hostname is not a device"}},
		{name: "missing group", service: "    group_add: [app, wheel]\n",
			want: []string{`service "s"`, `field "group_add[1]": "wheel": no such group in the image's /etc/group`}},
		{name: "cpuset outside the pod's CPUs", service: "    cpuset: \"0,4095\"\n",
			want: []string{`service "s": field "cpuset"`, "names CPU 4095, which the pod's cgroup may not use"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := "fields-hosterr"
			plan := h.compose(pod, fmt.Sprintf("services:\n  s:\n    image: %s\n    command: [\"sleep\", \"3600\"]\n", testenv.BusyboxRef)+tc.service, nil)
			_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{})
			if err == nil {
				h.down(pod)
				t.Fatal("up succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("up error %q does not say %q", err, w)
				}
			}
			h.assertNoLeak()
		})
	}
}
