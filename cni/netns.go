package cni

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

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
//
// Before the pin, dir is made a mount point of its own with shared
// propagation, as `ip netns add` does for /run/netns (see
// prepareNetNSDir): a pin made in a dir that is not one is copied when
// another program later binds the dir onto itself, and the hidden copy
// makes the pin impossible to remove.
func PinNetNS(dir, name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return "", fmt.Errorf("invalid network namespace name %q", name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating netns dir: %w", err)
	}
	if err := prepareNetNSDir(dir); err != nil {
		return "", err
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

// prepareNetNSDir makes dir a mount point of its own with shared
// propagation, the way iproute2's `ip netns add` prepares /run/netns:
// make it shared, and if that fails because dir is not a mount point,
// bind it onto itself (recursively, so pins already in it stay visible)
// and make it shared then.
//
// Why it matters: when dir is not a mount point, the first `ip netns add`
// (or any program doing the same) binds dir onto itself with every pin in
// it. Each pin then exists twice, the original hidden beneath the new
// mount; unmounting the visible copy leaves the file busy (EBUSY) for
// good, so the pod can neither be removed nor started again under its
// name. Once dir is a mount point, iproute2 only makes it shared and
// binds nothing; and because the pins are shared too, a copy made of one
// by anybody binding the dir again, or by a mount namespace made while the
// pod runs (a container's, a Mesos executor's), goes away when compod
// unmounts the pin.
//
// Two compods preparing the dir at the same time would each bind it onto
// itself (iproute2's own comment warns of the same), so the check and the
// bind happen under an flock on the dir itself: a lock file would show up
// in `ip netns list`. iproute2 does not take that lock; in the rare case
// that it binds the dir at the same moment, the dir gets two stacked
// mounts, which costs a mount table entry and nothing else.
func prepareNetNSDir(dir string) error {
	lock, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening netns dir %s: %w", dir, err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("locking netns dir %s: %w", dir, err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)

	err = unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("making netns dir %s a shared mount: %w", dir, err)
	}
	// EINVAL: dir is not a mount point yet.
	if err := bindOntoItself(dir); err != nil {
		return fmt.Errorf("making netns dir %s a mount point of its own (as `ip netns add` does): %w", dir, err)
	}
	if err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making netns dir %s a shared mount: %w", dir, err)
	}
	return nil
}

// bindOntoItself bind-mounts dir onto itself, recursively, so that the
// pins already in it (pods of a compod from before, or of other programs)
// stay visible. Such a pin is then mounted twice: the original beneath the
// new mount and its copy on top. Unless the mount under dir is shared (the
// two copies are then peers, and unmounting one unmounts the other), the
// hidden original would make the pin impossible to remove, which is the
// very thing this avoids; so each original is moved up: it is reached
// through a descriptor of dir opened before the bind (which still sees
// beneath it), its copy on top is checked (or made, for a pin mounted
// while the bind ran), and the original is unmounted.
func bindOntoItself(dir string) error {
	lower, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dir, err)
	}
	defer unix.Close(lower)
	shared, err := mountIsShared(lower)
	if err != nil {
		return err
	}
	if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind-mounting %s onto itself: %w", dir, err)
	}
	if shared {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	var errs []error
	for _, ent := range ents {
		if err := moveUpPin(lower, dir, ent.Name()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// moveUpPin makes sure the pin dir/name that lies beneath the mount on
// dir (reached through lower, a descriptor of dir opened before that
// mount) is visible on top and then unmounts the one beneath.
func moveUpPin(lower int, dir, name string) error {
	fd, err := unix.Openat(lower, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil // gone meanwhile
	}
	defer unix.Close(fd)
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil || fs.Type != unix.NSFS_MAGIC {
		return nil // a plain file: nothing mounted on it beneath
	}
	// The original, by its descriptor: a path would reach the copy.
	orig := fmt.Sprintf("/proc/self/fd/%d", fd)
	top := filepath.Join(dir, name)
	if !sameFile(fd, top) {
		// Pinned while the bind ran, so not copied: copy it now.
		if err := unix.Mount(orig, top, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("netns pin %s: copying it onto the new mount of %s: %w", top, dir, err)
		}
	}
	if err := unix.Unmount(orig, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("netns pin %s: unmounting its original beneath the new mount of %s: %w", top, dir, err)
	}
	return nil
}

// sameFile reports whether fd and path are the same (nsfs) file.
func sameFile(fd int, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Stat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// mountIsShared reports whether the mount fd lies on has shared
// propagation, from its line in /proc/self/mountinfo.
func mountIsShared(fd int) (bool, error) {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil {
		return false, fmt.Errorf("finding the mount of the netns dir: %w", err)
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		return false, errors.New("finding the mount of the netns dir: the kernel gives no mount id (Linux 5.8 or newer needed)")
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	id := strconv.FormatUint(stx.Mnt_id, 10)
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 || fields[0] != id {
			continue
		}
		for _, opt := range fields[6:] {
			if opt == "-" {
				break
			}
			if strings.HasPrefix(opt, "shared:") {
				return true, nil
			}
		}
		return false, nil
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	return false, fmt.Errorf("mount %s of the netns dir is not in /proc/self/mountinfo", id)
}

// maxPinCopies bounds the unmount loop of ReleaseNetNS: a pin is mounted a
// few times at most (someone else binding it again); more means the
// unmounts do not take.
const maxPinCopies = 64

// ReleaseNetNS unpins a netns made by PinNetNS: it unmounts every copy of
// the pin stacked on path (lazily, so a process that still has the netns
// open does not make it fail) and removes the file. The namespace itself
// goes away when no process is left in it. A missing path, or a leftover
// file that no longer has a netns mounted, is fine.
func ReleaseNetNS(path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for n := 0; isNetNS(path); n++ {
		if n == maxPinCopies {
			return fmt.Errorf("releasing network namespace %s: still mounted after %d unmounts: see `grep %s /proc/self/mountinfo`", path, n, path)
		}
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("releasing network namespace %s: unmounting the pin: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("removing netns pin %s: %w: a copy of the pin is still mounted beneath a mount stacked on %s (another program bound that dir onto itself while it was not a shared mount point, as `ip netns add` does on first use); the copy, and the file, stay until that mount of %s is unmounted or the host reboots: see `grep %s /proc/self/mountinfo`",
				path, err, filepath.Dir(path), filepath.Dir(path), path)
		}
		return fmt.Errorf("removing netns pin %s: %w", path, err)
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
