package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Limits are pod-level resource limits; zero means none.
type Limits struct {
	CPUs        float64
	MemoryBytes int64
}

// cfsPeriod is the CFS period cpu limits are expressed in (100 ms, the
// kernel's and docker's default).
const cfsPeriod = 100000

// Apply creates the cgroup at cgPath on the hierarchies that carry the given
// limits and sets them, so every container created beneath it (by runc) is
// bound by them together. It does nothing when lim is zero: runc creates
// the path itself.
func Apply(cgPath string, lim Limits) error {
	if lim.CPUs <= 0 && lim.MemoryBytes <= 0 {
		return nil
	}
	hs, err := Hierarchies()
	if err != nil {
		return err
	}
	for _, h := range hs {
		dir := filepath.Join(h.Mount, cgPath)
		var files map[string]string
		switch {
		case h.V2:
			// On a hybrid host the unified tree carries the controllers
			// no v1 hierarchy has (hugetlb, say), not memory and cpu.
			files = map[string]string{}
			if lim.MemoryBytes > 0 && v2HasController(h.Mount, "memory") {
				files["memory.max"] = strconv.FormatInt(lim.MemoryBytes, 10)
			}
			if lim.CPUs > 0 && v2HasController(h.Mount, "cpu") {
				files["cpu.max"] = fmt.Sprintf("%d %d", int64(lim.CPUs*cfsPeriod), cfsPeriod)
			}
			if len(files) == 0 {
				continue
			}
			enableV2Controllers(h.Mount, cgPath)
		case slices.Contains(h.Controllers, "memory") && lim.MemoryBytes > 0:
			files = map[string]string{"memory.limit_in_bytes": strconv.FormatInt(lim.MemoryBytes, 10)}
		case slices.Contains(h.Controllers, "cpu") && lim.CPUs > 0:
			files = map[string]string{
				"cpu.cfs_period_us": strconv.Itoa(cfsPeriod),
				"cpu.cfs_quota_us":  strconv.FormatInt(int64(lim.CPUs*cfsPeriod), 10),
			}
		default:
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating cgroup %s: %w", dir, err)
		}
		for name, val := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(val), 0o644); err != nil {
				return fmt.Errorf("setting %s=%s on cgroup %s: %w", name, val, dir, err)
			}
		}
	}
	return nil
}

// enableV2Controllers turns on the cpu and memory controllers down to
// cgPath: on cgroup v2 a child only gets the controllers its parent
// delegates. Errors are left for the limit writes to report.
func enableV2Controllers(mount, cgPath string) {
	dir := mount
	parts := []string{}
	for p := filepath.Clean(cgPath); p != "/" && p != "."; p = filepath.Dir(p) {
		parts = append([]string{filepath.Base(p)}, parts...)
	}
	for _, p := range parts {
		os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+cpu +memory"), 0o644)
		dir = filepath.Join(dir, p)
		os.MkdirAll(dir, 0o755)
	}
}
