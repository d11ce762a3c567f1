package cni_test

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/compod/compod/cni"
	"github.com/compod/compod/cni/cnitest"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	point  string
	shared bool
	fstype string
}

func mounts(t *testing.T) []mountEntry {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		m := mountEntry{point: unescapeMountPoint(fields[4])}
		for i, opt := range fields[6:] {
			if opt == "-" {
				m.fstype = fields[6+i+1]
				break
			}
			if strings.HasPrefix(opt, "shared:") {
				m.shared = true
			}
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// unescapeMountPoint undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPoint(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountsAt lists the mounts whose mount point is path, hidden ones included.
func mountsAt(t *testing.T, path string) []mountEntry {
	t.Helper()
	var out []mountEntry
	for _, m := range mounts(t) {
		if m.point == path {
			out = append(out, m)
		}
	}
	return out
}

// newNetNSDir gives a test a netns dir of its own. PinNetNS makes it a
// mount point (a bind of itself); the test's cleanup unmounts it, and
// whatever the test stacked on it, before the dir is removed.
func newNetNSDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() { unmountAll(t, dir) })
	return dir
}

// unmountAll unmounts whatever is mounted on path (with what is mounted
// below it) until path is no mount point.
func unmountAll(t *testing.T, path string) {
	t.Helper()
	for isMountPoint(t, path) {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", path, err)
			return
		}
	}
}

// isMountPoint asks the kernel about path itself (mountinfo only has
// paths, and a mount hidden beneath another has the same one).
func isMountPoint(t *testing.T, path string) bool {
	t.Helper()
	var stx unix.Statx_t
	err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, 0, &stx)
	if errors.Is(err, unix.ENOENT) {
		return false
	}
	if err != nil {
		t.Fatalf("statx %s: %v", path, err)
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		t.Fatal("the kernel does not say whether a path is a mount point (Linux 5.8 or newer needed)")
	}
	return stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
}

// ipNetnsAddPrepare does to dir what `ip netns add` (iproute2 6.1,
// netns_add) does to /run/netns before it pins anything: make it shared,
// and if it is not a mount point, bind it onto itself with everything
// mounted in it, then make it shared.
func ipNetnsAddPrepare(t *testing.T, dir string) {
	t.Helper()
	bound := false
	for {
		err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return
		}
		if !errors.Is(err, unix.EINVAL) || bound {
			t.Fatalf("mount --make-rshared %s: %v", dir, err)
		}
		if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			t.Fatalf("mount --rbind %s %s: %v", dir, dir, err)
		}
		bound = true
	}
}

// assertReleased checks what a user would: the pin is gone from the
// mount table (no copy hidden anywhere) and from the dir.
func assertReleased(t *testing.T, path string) {
	t.Helper()
	if ms := mountsAt(t, path); len(ms) > 0 {
		t.Errorf("%s is still mounted %d time(s) after ReleaseNetNS", path, len(ms))
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there after ReleaseNetNS: %v", path, err)
	}
}

// Bug 4 of issue 8: another program (`ip netns add` on first use) binds
// the netns dir onto itself while a pod runs. The pod's pin must still be
// released, leaving no mount and no file behind, and the name must be
// usable again.
func TestReleaseNetNSAfterDirBoundOntoItself(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct {
		name     string
		other    func(t *testing.T, dir string)
		copiesAt int // how many times the pin is mounted then, at least
	}{
		// iproute2 itself: after PinNetNS the dir is a mount point, so
		// it only makes it shared and binds nothing.
		{"ip netns add", ipNetnsAddPrepare, 1},
		// A program that binds the dir onto itself regardless: the pin
		// is copied, and the copies go together.
		{"rbind regardless", func(t *testing.T, dir string) {
			if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
				t.Fatal(err)
			}
		}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := newNetNSDir(t)
			before := cnitest.Snapshot(t, "", dir)
			path := pin(t, dir, "pod")
			ms := mountsAt(t, dir)
			if len(ms) == 0 || !ms[len(ms)-1].shared {
				t.Errorf("after PinNetNS, netns dir %s is not a shared mount point: %+v", dir, ms)
			}

			c.other(t, dir)
			if n := len(mountsAt(t, path)); n < c.copiesAt {
				t.Fatalf("the pin is mounted %d time(s), the test wants to see it at least %d times", n, c.copiesAt)
			}
			if err := cni.ReleaseNetNS(path); err != nil {
				t.Fatalf("ReleaseNetNS: %v", err)
			}
			assertReleased(t, path)

			// The name is free again: the pod can come back.
			path = pin(t, dir, "pod")
			if err := cni.ReleaseNetNS(path); err != nil {
				t.Fatalf("ReleaseNetNS of the second pin: %v", err)
			}
			assertReleased(t, path)
			before.AssertNoLeak(t, cnitest.Snapshot(t, "", dir))
		})
	}
}

// Making the netns dir a mount point must not strand pins already in it
// (pods of an older compod, or of other programs): bound onto itself with
// them, each would be mounted twice, the original hidden beneath the new
// mount and impossible to remove. They are moved onto the new mount
// instead, whatever the propagation of the mount the dir lies on.
func TestPinNetNSKeepsPinsAlreadyInDir(t *testing.T) {
	requireRoot(t)
	for _, parentShared := range []bool{false, true} {
		t.Run(fmt.Sprintf("parent shared %v", parentShared), func(t *testing.T) {
			dir := newNetNSDir(t)
			if parentShared {
				// A shared mount to put the netns dir on, as / is on
				// systemd hosts; made on the test's own dir only.
				parent := dir
				if err := unix.Mount(parent, parent, "none", unix.MS_BIND, ""); err != nil {
					t.Fatal(err)
				}
				if err := unix.Mount("", parent, "none", unix.MS_SHARED, ""); err != nil {
					t.Fatal(err)
				}
				dir = filepath.Join(parent, "netns")
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { unmountAll(t, dir) })
			}
			before := cnitest.Snapshot(t, "", dir)
			// An old pin, made the way compod did before: a file in a dir
			// that is no mount point, with a netns bound onto it.
			old := filepath.Join(dir, "old")
			if err := os.WriteFile(old, nil, 0o444); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mount("/proc/self/ns/net", old, "none", unix.MS_BIND, ""); err != nil {
				t.Fatal(err)
			}
			var want unix.Stat_t
			if err := unix.Stat("/proc/self/ns/net", &want); err != nil {
				t.Fatal(err)
			}

			path := pin(t, dir, "new")
			var got unix.Stat_t
			if err := unix.Stat(old, &got); err != nil || got.Ino != want.Ino {
				t.Fatalf("old pin %s no longer shows its netns after PinNetNS (inode %d, want %d): %v", old, got.Ino, want.Ino, err)
			}
			if n := len(mountsAt(t, old)); !parentShared && n != 1 {
				t.Errorf("old pin %s is mounted %d times, want once", old, n)
			}
			for _, p := range []string{old, path} {
				if err := cni.ReleaseNetNS(p); err != nil {
					t.Errorf("ReleaseNetNS(%s): %v", p, err)
				}
				assertReleased(t, p)
			}
			before.AssertNoLeak(t, cnitest.Snapshot(t, "", dir))
		})
	}
}

const ipNetnsChildEnv = "COMPOD_TEST_IP_NETNS_CHILD"

// The real `ip netns add` and `ip netns del` beside a compod pin in
// /run/netns. It runs in a mount namespace of its own, with an empty
// directory over /run, so the host's /run/netns and its pins are not
// touched (and a failure leaves nothing: the namespace goes with the
// process).
func TestIPNetnsAddBesidePin(t *testing.T) {
	requireRoot(t)
	if os.Getenv(ipNetnsChildEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), ipNetnsChildEnv+"=1")
		// Go makes / private (recursively) in the new mount namespace,
		// so nothing done there propagates to the host.
		cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
		out, err := cmd.CombinedOutput()
		t.Logf("in a mount namespace of its own:\n%s", out)
		if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
			t.Fatalf("child test: %v", err)
		}
		return
	}
	run := t.TempDir()
	if err := unix.Mount(run, "/run", "none", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mounting an empty dir over /run (in the test's own mount namespace): %v", err)
	}
	// Unmounted, with the netns dir's mount below it, before the dir is
	// removed.
	t.Cleanup(func() { unmountAll(t, "/run") })
	if _, err := os.Stat(cni.DefaultNetNSDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s is there before the test: %v", cni.DefaultNetNSDir, err)
	}
	name := fmt.Sprintf("compod-iptest-%06d", rand.IntN(1e6))
	path := pin(t, cni.DefaultNetNSDir, name)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", "other")
	ip("netns", "exec", name, "true")
	if n := len(mountsAt(t, path)); n != 1 {
		t.Errorf("after `ip netns add other`, the pin %s is mounted %d times, want once", path, n)
	}
	ip("netns", "del", "other")
	if err := cni.ReleaseNetNS(path); err != nil {
		t.Fatalf("ReleaseNetNS: %v", err)
	}
	assertReleased(t, path)
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("ip netns list (%v): %q, want nothing", err, out)
	}
}
