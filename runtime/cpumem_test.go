package runtime_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/cgroups"
	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// cgroupV1Files finds, on a cgroup v1 host, the mount of each of the
// given controllers; the test is skipped elsewhere (the files read below
// are v1's).
func cgroupV1Files(t *testing.T, controllers ...string) map[string]string {
	t.Helper()
	hs, err := cgroups.Hierarchies()
	if err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{}
	for _, c := range controllers {
		for _, h := range hs {
			if !h.V2 && slices.Contains(h.Controllers, c) {
				mounts[c] = h.Mount
			}
		}
		if mounts[c] == "" {
			t.Skipf("no cgroup v1 %s hierarchy on this host", c)
		}
	}
	return mounts
}

// readCgroup reads a control file of a cgroup on the host.
func readCgroup(t *testing.T, mount, cgPath, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mount, cgPath, file))
	if err != nil {
		t.Errorf("reading the cgroup file: %v", err)
		return ""
	}
	return strings.TrimSpace(string(b))
}

// v1Unlimited is what cgroup v1 shows for "no memory limit".
const v1Unlimited = "9223372036854771712"

// cpu_shares, cpuset, cpu_period/cpu_quota, mem_reservation,
// memswap_limit, mem_swappiness and oom_score_adj where a user finds
// them: the service's own cgroup on the host (containers get no cgroup
// mount to read them inside) and, inside, its process's CPUs and OOM
// score. They apply to the service's cgroup, beneath the pod's: the
// pod's own bounds stay as they were set, over all services together.
func TestServiceCPUMemory(t *testing.T) {
	mounts := cgroupV1Files(t, "cpu", "cpuset", "memory")
	swap, err := cgroups.SwapAccounting()
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	pod := "fields-cpumem"
	const probe = `grep '^Cpus_allowed_list:' /proc/self/status | awk '{print "allowed=" $2}';
echo "oom=$(cat /proc/self/oom_score_adj)"; echo probed; exec sleep 3600`
	plan := h.compose(pod, fmt.Sprintf(`
services:
  tuned:
    image: %[1]s
    command: ["sh", "-c", %[2]q]
    cpu_shares: 512
    cpuset: "1"
    cpu_period: 50000
    cpu_quota: 25000
    mem_limit: 64m
    mem_reservation: 32m
    memswap_limit: 128m
    mem_swappiness: 10
    oom_score_adj: 500
  unlimited-swap:
    image: %[1]s
    command: ["sh", "-c", %[2]q]
    mem_limit: 64m
    memswap_limit: -1
  plain:
    image: %[1]s
    command: ["sh", "-c", %[2]q]
`, testenv.BusyboxRef, probe), nil)
	rec, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{PodMemoryBytes: 256 << 20, PodCPUs: 1.5})
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	defer h.down(pod)

	svc := func(name string) string { return cgroups.ContainerPath(rec.Cgroup, name) }
	for _, c := range []struct{ cgPath, mount, file, want string }{
		{svc("tuned"), mounts["cpu"], "cpu.shares", "512"},
		{svc("tuned"), mounts["cpuset"], "cpuset.cpus", "1"},
		{svc("tuned"), mounts["cpu"], "cpu.cfs_period_us", "50000"},
		{svc("tuned"), mounts["cpu"], "cpu.cfs_quota_us", "25000"},
		{svc("tuned"), mounts["memory"], "memory.limit_in_bytes", "67108864"},
		{svc("tuned"), mounts["memory"], "memory.soft_limit_in_bytes", "33554432"},
		{svc("tuned"), mounts["memory"], "memory.swappiness", "10"},
		{svc("unlimited-swap"), mounts["memory"], "memory.limit_in_bytes", "67108864"},
		{svc("plain"), mounts["cpu"], "cpu.shares", "1024"},
		{svc("plain"), mounts["cpu"], "cpu.cfs_quota_us", "-1"},
		{svc("plain"), mounts["memory"], "memory.soft_limit_in_bytes", v1Unlimited},
		// The pod's bounds, over the services.
		{rec.Cgroup, mounts["memory"], "memory.limit_in_bytes", "268435456"},
		{rec.Cgroup, mounts["cpu"], "cpu.cfs_quota_us", "150000"},
	} {
		if got := readCgroup(t, c.mount, c.cgPath, c.file); got != c.want {
			t.Errorf("%s of cgroup %s = %s, want %s", c.file, c.cgPath, got, c.want)
		}
	}
	if swap {
		for service, want := range map[string]string{"tuned": "134217728", "unlimited-swap": v1Unlimited} {
			if got := readCgroup(t, mounts["memory"], svc(service), "memory.memsw.limit_in_bytes"); got != want {
				t.Errorf("memory.memsw.limit_in_bytes of %s = %s, want %s", service, got, want)
			}
		}
	} else {
		t.Log("this kernel does not account swap: memswap_limit is not checked")
	}

	wantProbes(t, h, pod, map[string][]string{
		"tuned": {"allowed=1", "oom=500"},
		// Without cpuset, the host's CPUs.
		"plain": {"allowed=" + readCgroup(t, mounts["cpuset"], "/", "cpuset.effective_cpus")},
	})
}

// wantProbes waits for each service to print "probed" and checks that
// it printed every want (whitespace-separated words) before.
func wantProbes(t *testing.T, h *harness, pod string, want map[string][]string) {
	t.Helper()
	for service, words := range want {
		var out string
		waitFor(t, 20*time.Second, service+"'s probe output", func() (bool, string) {
			out = h.logsOf(pod, service)
			return strings.Contains(out, "probed"), out
		})
		got := " " + strings.Join(strings.Fields(out), " ") + " "
		for _, w := range words {
			if !strings.Contains(got, " "+w+" ") {
				t.Errorf("%s: want %s in its output %q", service, w, out)
			}
		}
	}
}

// A negative oom_score_adj (the service killed after others) needs
// CAP_SYS_RESOURCE where runc runs: with it, the service gets its score;
// without it (some sandboxed hosts), the launch fails and the error
// names the field and the reason instead of runc's.
func TestServiceNegativeOOMScoreAdj(t *testing.T) {
	h := newHarness(t)
	pod := "fields-oom"
	plan := h.compose(pod, fmt.Sprintf(`
services:
  favoured:
    image: %s
    command: ["sh", "-c", "echo oom=$(cat /proc/self/oom_score_adj); echo probed; exec sleep 3600"]
    oom_score_adj: -100
`, testenv.BusyboxRef), nil)
	rec, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{})
	if !hostGrantsSysResource(t) {
		if err == nil {
			h.down(pod)
			t.Fatalf("up succeeded without CAP_SYS_RESOURCE on this host (pod %s)", rec.Plan.Name)
		}
		for _, want := range []string{`service "favoured": field "oom_score_adj"`, "CAP_SYS_RESOURCE"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("up error %q does not say %q", err, want)
			}
		}
		h.assertNoLeak()
		return
	}
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	defer h.down(pod)
	wantProbes(t, h, pod, map[string][]string{"favoured": {"oom=-100"}})
}

// hostGrantsSysResource: whether processes here (containerd, started
// like the test) may have CAP_SYS_RESOURCE, by the bounding set.
func hostGrantsSysResource(t *testing.T) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			var caps uint64
			fmt.Sscanf(strings.TrimSpace(v), "%x", &caps)
			return caps&(1<<24) != 0 // CAP_SYS_RESOURCE
		}
	}
	t.Fatal("no CapBnd in /proc/self/status")
	return false
}
