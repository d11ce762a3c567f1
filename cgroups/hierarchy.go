// Package cgroups knows where pods live in the cgroup tree: the parent a pod
// goes under (compod's own /compod, or the Mesos executor's container), the
// per-pod path, and removing a pod's cgroups on every hierarchy once its
// processes are gone. It knows nothing about compose or containerd.
package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Hierarchy is one mounted cgroup hierarchy.
type Hierarchy struct {
	// Mount is where it is mounted (/sys/fs/cgroup/memory).
	Mount string
	// Controllers are the v1 controllers (or "name=systemd"); empty for v2.
	Controllers []string
	// V2 is true for the unified hierarchy.
	V2 bool
}

// Hierarchies lists the cgroup hierarchies mounted on this host, read from
// /proc/self/mountinfo.
func Hierarchies() ([]Hierarchy, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	seen := map[string]bool{}
	var out []Hierarchy
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint opts ... - fstype source superopts
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+3 > len(fields) || len(fields) < 5 {
			continue
		}
		fstype, mount := fields[sep+1], fields[4]
		if seen[mount] {
			continue
		}
		switch fstype {
		case "cgroup2":
			seen[mount] = true
			out = append(out, Hierarchy{Mount: mount, V2: true})
		case "cgroup":
			seen[mount] = true
			var ctrls []string
			for _, o := range strings.Split(fields[sep+3], ",") {
				if o == "rw" || o == "ro" || strings.HasPrefix(o, "release_agent") || o == "clone_children" || o == "xattr" || o == "noprefix" {
					continue
				}
				ctrls = append(ctrls, o)
			}
			out = append(out, Hierarchy{Mount: mount, Controllers: ctrls})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mount < out[j].Mount })
	return out, sc.Err()
}

// PodPath is the cgroup of a pod under parent: every container of the pod
// (sandbox and services) gets its own cgroup beneath it.
func PodPath(parent, pod string) string { return path.Join("/", parent, pod) }

// ContainerPath is the cgroup of one container of a pod.
func ContainerPath(podPath, container string) string { return path.Join(podPath, container) }

// Remove deletes the cgroup at path (and any cgroups below it) on every
// hierarchy. Cgroups that still hold processes cannot be removed; the error
// names them. A path that does not exist is not an error.
func Remove(cgPath string) error {
	hs, err := Hierarchies()
	if err != nil {
		return err
	}
	// A cgroup that still has a process is retried for a while: a
	// container whose creation was under way when its compod was killed
	// (SIGKILL during `up`) can still have its runc init there, which
	// containerd removes a moment later, when it undoes the creation its
	// client gave up on. Anything else there is reported.
	deadline := time.Now().Add(busyTimeout)
	delay := 20 * time.Millisecond
	for {
		var errs []error
		busy := false
		for _, h := range hs {
			dir := filepath.Join(h.Mount, cgPath)
			if err := removeTree(dir); err != nil {
				errs = append(errs, err)
				busy = busy || errors.Is(err, syscall.EBUSY)
			}
		}
		if !busy || time.Now().After(deadline) {
			return errors.Join(errs...)
		}
		time.Sleep(delay)
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// busyTimeout bounds how long Remove waits for a pod's cgroups to empty.
const busyTimeout = 5 * time.Second

// removeTree removes a cgroup directory bottom-up: cgroupfs only allows
// rmdir of a cgroup without children or processes, and it refuses unlink of
// the control files, so os.RemoveAll does not work here.
func removeTree(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walking cgroup %s: %w", dir, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing cgroup %s: %w", dirs[i], err)
		}
	}
	return nil
}

// Exists reports whether the cgroup exists on any hierarchy.
func Exists(cgPath string) (bool, error) {
	hs, err := Hierarchies()
	if err != nil {
		return false, err
	}
	for _, h := range hs {
		if _, err := os.Stat(filepath.Join(h.Mount, cgPath)); err == nil {
			return true, nil
		}
	}
	return false, nil
}
