package agentsim

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// Limits as the Mesos cgroups/cpu and cgroups/mem isolators compute them.
const (
	cpuSharesPerCPU = 1024
	minCPUShares    = 2
	cfsPeriod       = 100 * time.Millisecond
	minCFSQuota     = time.Millisecond
	minMemory       = 32 << 20
)

// v1Controllers are the hierarchies the emulated agent places executors in,
// like an agent with --isolation=cgroups/cpu,cgroups/mem (the launcher also
// uses the freezer hierarchy to kill a container's processes).
var v1Controllers = []string{"cpu", "memory", "freezer"}

// containerCgroup is one Mesos container's cgroups: cgroup v1 has one
// directory per hierarchy (<root>/<ctrl>/mesos/<container-id>); cgroup v2 a
// single directory <root>/mesos/<container-id> whose processes sit in the
// "leaf" child (processes may only live in leaves).
type containerCgroup struct {
	v2    bool
	paths map[string]string // controller (v1) or "unified" (v2) → directory
	procs string            // directory whose cgroup.procs gets the executor
}

func isCgroup2(root string) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		return false
	}
	return st.Type == 0x63677270 // CGROUP2_SUPER_MAGIC
}

// resourceScalars sums the named scalar resources of an executor and its tasks.
func resourceScalars(name string, exec *mesos.ExecutorInfo, tasks []mesos.TaskInfo) float64 {
	sum := 0.0
	add := func(rs []mesos.Resource) {
		for _, r := range rs {
			if r.Name == name && r.Scalar != nil {
				sum += r.Scalar.Value
			}
		}
	}
	add(exec.Resources)
	for _, t := range tasks {
		add(t.Resources)
	}
	return sum
}

// createCgroup makes the container's cgroups and writes its limits.
func createCgroup(root, containerID string, cpus, memMB float64, cfs bool) (*containerCgroup, error) {
	cg := &containerCgroup{paths: map[string]string{}}
	memBytes := int64(0)
	if memMB > 0 {
		memBytes = max(int64(memMB*1024*1024), minMemory)
	}
	if isCgroup2(root) {
		cg.v2 = true
		base := filepath.Join(root, "mesos")
		dir := filepath.Join(base, containerID)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		cg.paths["unified"] = dir
		// Delegate cpu and memory down to the container's cgroup.
		for _, p := range []string{root, base, dir} {
			_ = os.WriteFile(filepath.Join(p, "cgroup.subtree_control"), []byte("+cpu +memory"), 0)
		}
		if cpus > 0 {
			w := max(int64(math.Round(cpus*cpuSharesPerCPU)), minCPUShares)
			// cgroup v2 weight from v1 shares, as runc converts them.
			weight := 1 + ((w-2)*9999)/262142
			if err := os.WriteFile(filepath.Join(dir, "cpu.weight"), []byte(strconv.FormatInt(weight, 10)), 0); err != nil {
				return cg, err
			}
			if cfs {
				quota := max(time.Duration(float64(cfsPeriod)*cpus), minCFSQuota)
				v := fmt.Sprintf("%d %d", quota.Microseconds(), cfsPeriod.Microseconds())
				if err := os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(v), 0); err != nil {
					return cg, err
				}
			}
		}
		if memBytes > 0 {
			if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(strconv.FormatInt(memBytes, 10)), 0); err != nil {
				return cg, err
			}
		}
		leaf := filepath.Join(dir, "leaf")
		if err := os.Mkdir(leaf, 0o755); err != nil {
			return cg, err
		}
		cg.procs = leaf
		return cg, nil
	}
	for _, ctrl := range v1Controllers {
		dir := filepath.Join(root, ctrl, "mesos", containerID)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return cg, err
		}
		cg.paths[ctrl] = dir
	}
	cg.procs = cg.paths["freezer"]
	if cpus > 0 {
		shares := max(int64(math.Round(cpus*cpuSharesPerCPU)), minCPUShares)
		if err := os.WriteFile(filepath.Join(cg.paths["cpu"], "cpu.shares"), []byte(strconv.FormatInt(shares, 10)), 0); err != nil {
			return cg, err
		}
		if cfs {
			quota := max(time.Duration(float64(cfsPeriod)*cpus), minCFSQuota)
			if err := os.WriteFile(filepath.Join(cg.paths["cpu"], "cpu.cfs_period_us"), []byte(strconv.FormatInt(cfsPeriod.Microseconds(), 10)), 0); err != nil {
				return cg, err
			}
			if err := os.WriteFile(filepath.Join(cg.paths["cpu"], "cpu.cfs_quota_us"), []byte(strconv.FormatInt(quota.Microseconds(), 10)), 0); err != nil {
				return cg, err
			}
		}
	}
	if memBytes > 0 {
		mem := cg.paths["memory"]
		// Like the cgroups/mem isolator: the hard limit and the soft limit.
		if err := os.WriteFile(filepath.Join(mem, "memory.limit_in_bytes"), []byte(strconv.FormatInt(memBytes, 10)), 0); err != nil {
			return cg, err
		}
		if err := os.WriteFile(filepath.Join(mem, "memory.soft_limit_in_bytes"), []byte(strconv.FormatInt(memBytes, 10)), 0); err != nil {
			return cg, err
		}
	}
	return cg, nil
}

// openProcsDir opens the directory processes are put in (for
// SysProcAttr.CgroupFD on cgroup v2).
func (cg *containerCgroup) openProcsDir() (*os.File, error) { return os.Open(cg.procs) }

// addPID moves pid into every hierarchy of the container.
func (cg *containerCgroup) addPID(pid int) error {
	var errs []error
	s := []byte(strconv.Itoa(pid))
	if cg.v2 {
		return os.WriteFile(filepath.Join(cg.procs, "cgroup.procs"), s, 0)
	}
	for _, ctrl := range v1Controllers {
		if err := os.WriteFile(filepath.Join(cg.paths[ctrl], "cgroup.procs"), s, 0); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ctrl, err))
		}
	}
	return errors.Join(errs...)
}

func readPids(dir string) []int {
	f, err := os.Open(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var pids []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, err := strconv.Atoi(strings.TrimSpace(sc.Text())); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// top is the container's top directory in the hierarchy used to find and
// kill its processes (the executor may make nested cgroups below it, as
// compod does for its pod's containers).
func (cg *containerCgroup) top() string {
	if cg.v2 {
		return cg.paths["unified"]
	}
	return cg.paths["freezer"]
}

// subdirs lists dir and every cgroup below it, deepest first.
func subdirs(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// pids lists every process in the container, nested cgroups included.
func (cg *containerCgroup) pids() []int {
	var pids []int
	for _, d := range subdirs(cg.top()) {
		pids = append(pids, readPids(d)...)
	}
	return pids
}

// kill SIGKILLs every process of the container the way the Mesos launcher
// destroys a container: freeze, kill, thaw (v1 freezer), or cgroup.kill (v2),
// until the cgroup is empty or the timeout passes.
func (cg *containerCgroup) kill(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pids := cg.pids()
		if len(pids) == 0 {
			return nil
		}
		if cg.v2 {
			if err := os.WriteFile(filepath.Join(cg.paths["unified"], "cgroup.kill"), []byte("1"), 0); err != nil {
				for _, p := range pids {
					_ = syscall.Kill(p, syscall.SIGKILL)
				}
			}
		} else {
			state := filepath.Join(cg.paths["freezer"], "freezer.state")
			_ = os.WriteFile(state, []byte("FROZEN"), 0)
			for _, p := range cg.pids() {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			_ = os.WriteFile(state, []byte("THAWED"), 0)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s still has processes %v", cg.top(), cg.pids())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// remove deletes the container's cgroup directories (after kill).
func (cg *containerCgroup) remove() error {
	var errs []error
	rm := func(dir string) {
		var err error
		for i := 0; i < 50; i++ {
			if err = os.Remove(dir); err == nil || os.IsNotExist(err) {
				return
			}
			time.Sleep(20 * time.Millisecond) // EBUSY while exiting tasks drain
		}
		errs = append(errs, err)
	}
	for _, top := range cg.paths {
		for _, d := range subdirs(top) {
			rm(d)
		}
	}
	return errors.Join(errs...)
}
