package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// What the host's cgroups can do, and what a pod's cgroup may use, asked
// before a container is created so that a service's setting that cannot
// work fails with its name rather than as runc's write error.

// AvailableCPUs is the list of CPUs ("0-3,6") a cgroup created at cgPath
// may use: the effective cpuset of its nearest existing ancestor (a Mesos
// task's cgroup, compod's parent, the root). ok is false when the host
// has no cpuset controller.
func AvailableCPUs(cgPath string) (cpus string, ok bool, err error) {
	hs, err := Hierarchies()
	if err != nil {
		return "", false, err
	}
	for _, h := range hs {
		file := "cpuset.cpus.effective"
		switch {
		case h.V2 && v2HasController(h.Mount, "cpuset"):
		case !h.V2 && slices.Contains(h.Controllers, "cpuset"):
			file = "cpuset.effective_cpus"
		default:
			continue
		}
		for dir := filepath.Join(h.Mount, cgPath); ; dir = filepath.Dir(dir) {
			b, err := os.ReadFile(filepath.Join(dir, file))
			if err == nil {
				return strings.TrimSpace(string(b)), true, nil
			}
			if !os.IsNotExist(err) {
				return "", false, fmt.Errorf("reading the CPUs of cgroup %s: %w", dir, err)
			}
			if dir == h.Mount || len(dir) <= len(h.Mount) {
				break
			}
		}
	}
	return "", false, nil
}

// SwapAccounting says whether the kernel limits swap per cgroup: on
// cgroup v1 the memory controller has the memory.memsw.* files only when
// the kernel accounts swap (swapaccount=1); on v2, memory.swap.max.
func SwapAccounting() (bool, error) {
	hs, err := Hierarchies()
	if err != nil {
		return false, err
	}
	for _, h := range hs {
		switch {
		case !h.V2 && slices.Contains(h.Controllers, "memory"):
			return exists(filepath.Join(h.Mount, "memory.memsw.limit_in_bytes")), nil
		case h.V2 && v2HasController(h.Mount, "memory"):
			// The root has no memory.swap.max; any child with the
			// memory controller does, if the kernel accounts swap.
			ents, err := os.ReadDir(h.Mount)
			if err != nil {
				return false, fmt.Errorf("reading %s: %w", h.Mount, err)
			}
			for _, e := range ents {
				if e.IsDir() && exists(filepath.Join(h.Mount, e.Name(), "memory.max")) {
					return exists(filepath.Join(h.Mount, e.Name(), "memory.swap.max")), nil
				}
			}
		}
	}
	return false, nil
}

func v2HasController(mount, name string) bool {
	b, err := os.ReadFile(filepath.Join(mount, "cgroup.controllers"))
	return err == nil && slices.Contains(strings.Fields(string(b)), name)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
