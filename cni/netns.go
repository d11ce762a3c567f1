package cni

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/containerd/containerd/v2/pkg/netns"
	"golang.org/x/sys/unix"
)

// DefaultNetNSDir is where `ip netns` looks; pods pinned there show up in
// `ip netns list`.
const DefaultNetNSDir = "/run/netns"

// PinNetNS creates a new network namespace and pins it (bind mount) at
// dir/name, so it outlives every process in it until ReleaseNetNS.
//
// containerd's pkg/netns (NewNetNS, NewNetNSFromPID) only makes randomly
// named pins, and compod wants `ip netns` to show pods by name, so this is
// the same few lines with a chosen name: unshare a new netns on a locked
// OS thread, bind-mount that thread's /proc netns file onto the pin and
// switch the thread back.
func PinNetNS(dir, name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return "", fmt.Errorf("invalid network namespace name %q", name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating netns dir: %w", err)
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("network namespace %s already exists (the pod is running, or a stale pin is left: release it, e.g. `ip netns delete %s`)", path, name)
		}
		return "", fmt.Errorf("creating netns pin: %w", err)
	}
	f.Close()

	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		orig, err := os.Open(self)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			// Nothing changed: the thread is still in the original netns.
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		err = unix.Mount(self, path, "none", unix.MS_BIND, "")
		if err != nil {
			err = fmt.Errorf("bind-mounting %s: %w", self, err)
		}
		// Go back to the original netns before the goroutine ends. Exiting
		// locked is not enough: Go cannot end the process's main thread,
		// so if this goroutine ran there, that thread would be parked in
		// the new netns for good and keep it (and its veth) alive after
		// ReleaseNetNS. Only when the way back fails is the thread left
		// locked, to be dropped.
		if serr := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); serr == nil {
			runtime.UnlockOSThread()
		} else if err == nil {
			err = fmt.Errorf("returning to the original netns: %w", serr)
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		ReleaseNetNS(path)
		return "", fmt.Errorf("creating network namespace %s: %w", path, err)
	}
	return path, nil
}

// ReleaseNetNS unpins a netns made by PinNetNS (unmount and remove). The
// namespace itself goes away when no process is left in it. A missing path,
// or a leftover file that no longer has a netns mounted, is fine.
func ReleaseNetNS(path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if !isNetNS(path) {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing netns pin %s: %w", path, err)
		}
		return nil
	}
	if err := netns.LoadNetNS(path).Remove(); err != nil {
		return fmt.Errorf("releasing network namespace %s: %w", path, err)
	}
	return nil
}

// isNetNS reports whether path is a (pinned) network namespace.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}
