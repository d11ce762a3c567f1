package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// MesosParent finds, in the content of /proc/self/cgroup, the cgroup of the
// Mesos container the calling process (the executor) runs in, so that pods
// can be created beneath it and the task's limits and Mesos' resource
// statistics cover them:
//
//   - cgroup v1 (and hybrid hosts): the path of the memory (else cpu) hierarchy,
//     e.g. /mesos/<container-id>, or /mesos/<cid>/mesos/<cid2> for a nested
//     container;
//   - cgroup v2 ("0::/mesos/<cid>/leaf"): the container's cgroup, the parent
//     of the leaf the agent put the executor into (processes may only live in
//     leaves on v2).
//
// It returns "" (and no error) when the process is not in a Mesos container
// cgroup: the agent uses posix isolation, or compod was run by hand.
func MesosParent(procSelfCgroup string) (string, error) {
	var v1Mem, v1CPU, v2 string
	haveV1, haveV2 := false, false
	for _, line := range strings.Split(procSelfCgroup, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		// hierarchy-ID:controller-list:cgroup-path (the path may contain ':')
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
			return "", fmt.Errorf("reading /proc/self/cgroup: malformed line %q", line)
		}
		ctrls, p := parts[1], parts[2]
		if parts[0] == "0" && ctrls == "" {
			haveV2, v2 = true, p
			continue
		}
		haveV1 = true
		for _, c := range strings.Split(ctrls, ",") {
			switch c {
			case "memory":
				v1Mem = p
			case "cpu":
				v1CPU = p
			}
		}
	}
	switch {
	case v1Mem != "" && mesosContainer(v1Mem) != "":
		return mesosContainer(v1Mem), nil
	case v1CPU != "" && mesosContainer(v1CPU) != "":
		return mesosContainer(v1CPU), nil
	case haveV1 && (v1Mem != "" || v1CPU != ""):
		// The v1 controllers say "not Mesos"; on a hybrid host the unified
		// tree carries no controllers, so it does not count.
		return "", nil
	case haveV2:
		return mesosContainer(v2), nil
	}
	return "", nil
}

// mesosContainer returns the prefix of p up to and including the last
// "mesos/<container-id>" pair, or "" when p has none.
func mesosContainer(p string) string {
	segs := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	end := -1
	for i := 0; i+1 < len(segs); i++ {
		if segs[i] == "mesos" && segs[i+1] != "" && segs[i+1] != "leaf" {
			end = i + 1
			i++
		}
	}
	if end < 0 {
		return ""
	}
	return "/" + strings.Join(segs[:end+1], "/")
}

// RemoveEmptyTree removes the cgroup at cgPath and every cgroup below it,
// bottom-up, from every hierarchy where they are empty; cgroups that
// still hold processes (or do not exist) are left alone. It is for the
// cgroups nobody else removes: the Mesos container cgroup of an executor
// (its own at exit, a dead one's when its pods are reclaimed), which runc
// made in the hierarchies the agent does not manage, with the pods' cgroups
// beneath it.
func RemoveEmptyTree(cgPath string) error {
	if cgPath == "" || cgPath == "/" {
		return nil
	}
	hs, err := Hierarchies()
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range hs {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(h.Mount, cgPath), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.EBUSY) && !errors.Is(err, syscall.ENOTEMPTY) {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}
