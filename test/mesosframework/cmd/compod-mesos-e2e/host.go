package main

// Checks from outside the pod: HTTP through the host port, containerd,
// /proc, cgroup files, pinned network namespaces.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// httpEventually GETs http://127.0.0.1:port/ until the body contains want
// or the bound passes.
func httpEventually(port uint64, want string, bound time.Duration) (string, error) {
	cl := http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(bound)
	var body string
	var err error
	for {
		var resp *http.Response
		resp, err = cl.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			body, err = string(b), rerr
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %s", resp.Status)
			}
			if err == nil && !strings.Contains(body, want) {
				err = fmt.Errorf("page %q does not contain %q", strings.TrimSpace(body), want)
			}
		}
		if err == nil {
			return body, nil
		}
		if time.Now().After(deadline) {
			return body, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (r *runner) nsCtx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.o.ns)
}

// podPIDs are the pids of every process of the pod's containers (found by
// the compod.pod label), as `ctr task ps` lists them.
func (r *runner) podPIDs(ctx context.Context, pod string) ([]uint32, error) {
	ctx = r.nsCtx(ctx)
	ctrs, err := r.c.Containers(ctx, fmt.Sprintf("labels.%q==%s", "compod.pod", pod))
	if err != nil {
		return nil, fmt.Errorf("listing containers of pod %s: %w", pod, err)
	}
	if len(ctrs) == 0 {
		return nil, fmt.Errorf("containerd namespace %s has no container of pod %s", r.o.ns, pod)
	}
	var pids []uint32
	for _, c := range ctrs {
		tk, err := c.Task(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("task of container %s: %w", c.ID(), err)
		}
		ps, err := tk.Pids(ctx)
		if err != nil {
			return nil, fmt.Errorf("pids of container %s: %w", c.ID(), err)
		}
		for _, p := range ps {
			pids = append(pids, p.Pid)
		}
	}
	return pids, nil
}

// procCgroups maps each cgroup v1 controller of pid to its path.
func procCgroups(pid uint32) (map[string]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			if ctl == "" {
				ctl = "unified"
			}
			out[ctl] = parts[2]
		}
	}
	return out, nil
}

// memoryLimit is the agent's memory limit of the executor's container.
func memoryLimit(containerID string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/memory/mesos", containerID, "memory.limit_in_bytes"))
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// mesosCgroups lists /mesos/<container-id> in every cgroup hierarchy where
// it exists, with the hierarchy's mount point.
func mesosCgroups(containerID string) map[string]string {
	out := map[string]string{}
	mnts, _ := filepath.Glob("/sys/fs/cgroup/*/mesos/" + containerID)
	for _, m := range mnts {
		if real, err := filepath.EvalSymlinks(m); err == nil && real != m {
			continue // cpu -> cpu,cpuacct
		}
		out[m] = filepath.Dir(filepath.Dir(m))
	}
	if _, err := os.Stat("/sys/fs/cgroup/mesos/" + containerID); err == nil {
		out["/sys/fs/cgroup/mesos/"+containerID] = "/sys/fs/cgroup"
	}
	return out
}

// waitCgroupGone waits until no /mesos/<container-id> cgroup is left in
// the hierarchies the agent sees (agentMounts; nil: every hierarchy). What
// is left in hierarchies hidden from the agent (and so from its executors:
// the unified one, which hack/mesos-e2e.sh unmounts for this Mesos) is
// returned as hidden: only runc, in the host's mount namespace, sees and
// fills those.
func waitCgroupGone(containerID string, bound time.Duration, agentMounts map[string]bool) (hidden []string, err error) {
	deadline := time.Now().Add(bound)
	for {
		var visible []string
		hidden = hidden[:0]
		for dir, mnt := range mesosCgroups(containerID) {
			if agentMounts != nil && !agentMounts[mnt] {
				hidden = append(hidden, dir)
			} else {
				visible = append(visible, dir)
			}
		}
		sort.Strings(hidden)
		if len(visible) == 0 {
			return hidden, nil
		}
		if time.Now().After(deadline) {
			sort.Strings(visible)
			return hidden, fmt.Errorf("cgroups left after %v: %s", bound, strings.Join(visible, " "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// compodNetns lists the compod-* network namespaces `ip netns list` shows
// (the pins in /run/netns).
func compodNetns() map[string]bool {
	out := map[string]bool{}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "compod-") {
			out[e.Name()] = true
		}
	}
	return out
}

// newNetns are the compod-* namespaces that were not there when the run
// started (other compod users on the host keep theirs).
func (r *runner) newNetns() []string {
	var out []string
	for n := range compodNetns() {
		if !r.netnsBefore[n] {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// containersLeft lists the containers (and whether they still have a
// task) in the namespace.
func (r *runner) containersLeft(ctx context.Context) ([]string, error) {
	ctx = r.nsCtx(ctx)
	ctrs, err := r.c.Containers(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, c := range ctrs {
		desc := c.ID()
		if tk, err := c.Task(ctx, nil); err == nil {
			if st, err := tk.Status(ctx); err == nil {
				desc += fmt.Sprintf(" (task %s, pid %d)", st.Status, tk.Pid())
			}
		}
		out = append(out, desc)
	}
	return out, nil
}

// waitClean waits until the namespace has no container and no compod-*
// netns was added; the error lists what is left.
func (r *runner) waitClean(pod string, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ctrs, err := r.containersLeft(ctx)
		cancel()
		netns := r.newNetns()
		if err == nil && len(ctrs) == 0 && len(netns) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			var left []string
			if err != nil {
				left = append(left, "listing containers: "+err.Error())
			}
			if len(ctrs) > 0 {
				left = append(left, fmt.Sprintf("containers in namespace %s: %s", r.o.ns, strings.Join(ctrs, ", ")))
			}
			if len(netns) > 0 {
				left = append(left, "netns: "+strings.Join(netns, ", "))
			}
			return fmt.Errorf("after pod %s, %v later: %s", pod, bound, strings.Join(left, "; "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// leftovers describes what a dead pod left behind, for the report ("" if
// nothing).
func (r *runner) leftovers(pod string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var left []string
	if ctrs, err := r.containersLeft(ctx); err == nil && len(ctrs) > 0 {
		left = append(left, "containers "+strings.Join(ctrs, ", "))
	}
	for _, n := range r.newNetns() {
		// compod-<instance>-<pod> (compod-<pod> from older compods)
		if n == "compod-"+pod || (strings.HasPrefix(n, "compod-") && strings.HasSuffix(n, "-"+pod) && len(n) == len("compod-xxxxxxxx-"+pod)) {
			left = append(left, "netns "+n)
		}
	}
	if len(left) == 0 {
		return ""
	}
	return "; left by the crashed pod: " + strings.Join(left, "; ")
}

// executorPID finds the compod executor process of an executor id by its
// environment (MESOS_EXECUTOR_ID), for agents whose /containers has no
// executor_pid.
func executorPID(executorID string) (int, error) {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	want := []byte("MESOS_EXECUTOR_ID=" + executorID + "\x00")
	for _, d := range dirs {
		cmd, err := os.ReadFile(d + "/cmdline")
		if err != nil || !bytes.Contains(cmd, []byte("executor")) {
			continue
		}
		env, err := os.ReadFile(d + "/environ")
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		return strconv.Atoi(filepath.Base(d))
	}
	return 0, fmt.Errorf("no process with MESOS_EXECUTOR_ID=%s", executorID)
}
