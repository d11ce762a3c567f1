// Package nspin pins Linux namespaces to files (bind mounts of their
// /proc ns files), so that they outlive every process in them, as a pod's
// network namespace, which its containers join by path. The cni package
// pins network namespaces with it; it pins network, IPC and UTS
// namespaces.
package nspin

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

// Namespace is one namespace to create and where to pin it.
type Namespace struct {
	// Flag is the namespace's clone flag: unix.CLONE_NEWNET, CLONE_NEWIPC
	// or CLONE_NEWUTS.
	Flag int
	// Name is the pin's file name in the pin dir.
	Name string
}

// nsFiles are the /proc/<pid>/task/<tid>/ns file of each flag Pin supports.
var nsFiles = map[int]string{unix.CLONE_NEWNET: "net", unix.CLONE_NEWIPC: "ipc", unix.CLONE_NEWUTS: "uts"}

// Pin creates new namespaces of the kinds nss name, in one unshare on a
// locked OS thread, runs setup (if any) inside them (e.g. sethostname in a
// new UTS namespace), bind-mounts each onto dir/Name, and switches the
// thread back. It returns the pins' paths, in the order of nss. On failure
// nothing is left.
//
// Before the pins, dir is made a mount point of its own with shared
// propagation, as `ip netns add` does for /run/netns (see prepareDir): a
// pin made in a dir that is not one is copied when another program later
// binds the dir onto itself, and the hidden copy makes the pin impossible
// to remove.
func Pin(dir string, nss []Namespace, setup func() error) ([]string, error) {
	flags := 0
	for _, ns := range nss {
		if _, ok := nsFiles[ns.Flag]; !ok || flags&ns.Flag != 0 {
			return nil, fmt.Errorf("pinning namespaces: unsupported or repeated namespace flag %#x", ns.Flag)
		}
		if ns.Name == "" || ns.Name == "." || ns.Name == ".." || strings.ContainsRune(ns.Name, '/') {
			return nil, fmt.Errorf("invalid namespace pin name %q", ns.Name)
		}
		flags |= ns.Flag
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating namespace pin dir: %w", err)
	}
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	var paths []string
	release := func() {
		for _, p := range paths {
			Release(p)
		}
	}
	for _, ns := range nss {
		path := filepath.Join(dir, ns.Name)
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
		if err != nil {
			release()
			if errors.Is(err, os.ErrExist) {
				return nil, fmt.Errorf("namespace pin %s: %w", path, err)
			}
			return nil, fmt.Errorf("creating namespace pin: %w", err)
		}
		f.Close()
		paths = append(paths, path)
	}

	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self := func(kind string) string {
			return fmt.Sprintf("/proc/%d/task/%d/ns/%s", os.Getpid(), unix.Gettid(), kind)
		}
		var origs []*os.File
		defer func() {
			for _, f := range origs {
				f.Close()
			}
		}()
		for _, ns := range nss {
			f, err := os.Open(self(nsFiles[ns.Flag]))
			if err != nil {
				runtime.UnlockOSThread()
				errc <- err
				return
			}
			origs = append(origs, f)
		}
		if err := unix.Unshare(flags); err != nil {
			// Nothing changed: the thread is still where it was.
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		var err error
		if setup != nil {
			err = setup()
		}
		for i, ns := range nss {
			if err != nil {
				break
			}
			if merr := unix.Mount(self(nsFiles[ns.Flag]), paths[i], "none", unix.MS_BIND, ""); merr != nil {
				err = fmt.Errorf("bind-mounting %s: %w", self(nsFiles[ns.Flag]), merr)
			}
		}
		// Go back to the original namespaces before the goroutine ends.
		// Exiting locked is not enough: Go cannot end the process's main
		// thread, so if this goroutine ran there, that thread would be
		// parked in the new namespaces for good and keep them (a netns
		// and its veth) alive after Release. Only when the way back fails
		// is the thread left locked, to be dropped.
		back := true
		for i, ns := range nss {
			if serr := unix.Setns(int(origs[i].Fd()), ns.Flag); serr != nil {
				back = false
				if err == nil {
					err = fmt.Errorf("returning to the original %s namespace: %w", nsFiles[ns.Flag], serr)
				}
			}
		}
		if back {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		release()
		return nil, fmt.Errorf("creating namespaces %s: %w", strings.Join(paths, ", "), err)
	}
	return paths, nil
}

// prepareDir makes dir a mount point of its own with shared
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
func prepareDir(dir string) error {
	lock, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening pin dir %s: %w", dir, err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("locking pin dir %s: %w", dir, err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)

	err = unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("making pin dir %s a shared mount: %w", dir, err)
	}
	// EINVAL: dir is not a mount point yet.
	if err := bindOntoItself(dir); err != nil {
		return fmt.Errorf("making pin dir %s a mount point of its own (as `ip netns add` does): %w", dir, err)
	}
	if err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("making pin dir %s a shared mount: %w", dir, err)
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
			return fmt.Errorf("namespace pin %s: copying it onto the new mount of %s: %w", top, dir, err)
		}
	}
	if err := unix.Unmount(orig, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("namespace pin %s: unmounting its original beneath the new mount of %s: %w", top, dir, err)
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
		return false, fmt.Errorf("finding the mount of the pin dir: %w", err)
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		return false, errors.New("finding the mount of the pin dir: the kernel gives no mount id (Linux 5.8 or newer needed)")
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
	return false, fmt.Errorf("mount %s of the pin dir is not in /proc/self/mountinfo", id)
}

// maxPinCopies bounds the unmount loop of Release: a pin is mounted a
// few times at most (someone else binding it again); more means the
// unmounts do not take.
const maxPinCopies = 64

// Release unpins a namespace made by Pin: it unmounts every copy of
// the pin stacked on path (lazily, so a process that still has the namespace
// open does not make it fail) and removes the file. The namespace itself
// goes away when no process is left in it. A missing path, or a leftover
// file that no longer has a namespace mounted, is fine.
func Release(path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for n := 0; IsPinned(path); n++ {
		if n == maxPinCopies {
			return fmt.Errorf("releasing namespace pin %s: still mounted after %d unmounts: see `grep %s /proc/self/mountinfo`", path, n, path)
		}
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("releasing namespace pin %s: unmounting the pin: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("removing namespace pin %s: %w: a copy of the pin is still mounted beneath a mount stacked on %s (another program bound that dir onto itself while it was not a shared mount point, as `ip netns add` does on first use); the copy, and the file, stay until that mount of %s is unmounted or the host reboots: see `grep %s /proc/self/mountinfo`",
				path, err, filepath.Dir(path), filepath.Dir(path), path)
		}
		return fmt.Errorf("removing namespace pin %s: %w", path, err)
	}
	return nil
}

// IsPinned reports whether path is a pinned namespace.
func IsPinned(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}
