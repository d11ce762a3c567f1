package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"

	"github.com/compod/compod/cgroups"
	"github.com/compod/compod/cni/cnitest"
	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// hostState is what a pod of the CLI could leave behind on the host.
type hostState struct {
	lists map[string][]string
	cni   cnitest.State
}

// host records the containers, tasks, snapshots and leases of the test
// namespace, pod cgroups (the CLI's default parent), netns pins, mounts,
// and the CNI state of the CLI's state dir.
func (c *cli) host() hostState {
	c.t.Helper()
	t := c.t
	cl := testenv.Client(t)
	ctx := testenv.Context(t)
	s := hostState{lists: map[string][]string{}}
	add := func(kind, x string) { s.lists[kind] = append(s.lists[kind], x) }
	ctrs, err := cl.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ctr := range ctrs {
		add("containers", ctr.ID())
		if _, err := ctr.Task(ctx, nil); err == nil {
			add("tasks", ctr.ID())
		}
	}
	if err := cl.SnapshotService("overlayfs").Walk(ctx, func(_ context.Context, i snapshots.Info) error {
		add("snapshots", i.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ls, err := cl.LeasesService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		add("leases", l.ID)
	}
	hs, _ := cgroups.Hierarchies()
	for _, h := range hs {
		ents, _ := os.ReadDir(filepath.Join(h.Mount, runtime.DefaultCgroupParent))
		for _, e := range ents {
			if e.IsDir() {
				add("cgroups", filepath.Join(h.Mount, runtime.DefaultCgroupParent, e.Name()))
			}
		}
	}
	ents, _ := os.ReadDir(runtime.DefaultNetNSDir)
	for _, e := range ents {
		add("netns", e.Name())
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		if strings.Contains(line, c.stateDir) || strings.Contains(line, "/netns/compod-") {
			add("mounts", strings.Fields(line)[4])
		}
	}
	s.cni = cnitest.Snapshot(t, c.stateDir)
	return s
}

// assertNoLeak checks that nothing of the pods appeared since before, and
// that no pod state is left in the state dir. Only what names one of the
// pods counts (and every lease: a lease a cancelled call leaves names
// nobody): the test namespace is shared with other tests' engines.
func (c *cli) assertNoLeak(before hostState, pods ...string) {
	c.t.Helper()
	after := c.host()
	ours := func(x string) bool {
		for _, p := range pods {
			if strings.Contains(x, p+"_") || strings.HasSuffix(x, "-"+p) || strings.HasSuffix(x, "/"+p) || strings.Contains(x, c.stateDir) {
				return true
			}
		}
		return false
	}
	for kind, xs := range after.lists {
		var leaked []string
		for _, x := range xs {
			if (kind == "leases" || ours(x)) && !slices.Contains(before.lists[kind], x) {
				leaked = append(leaked, x)
			}
		}
		if len(leaked) > 0 {
			c.t.Errorf("leaked %s: %v", kind, leaked)
		}
	}
	before.cni.AssertNoLeak(c.t, after.cni)
	if ents, _ := os.ReadDir(filepath.Join(c.stateDir, "pods")); len(ents) > 0 {
		c.t.Errorf("leaked pod state dirs: %v", ents)
	}
}

// start runs compod in the background, in a process group of its own,
// with its stdout in a file.
func (c *cli) start(args ...string) (*exec.Cmd, string) {
	c.t.Helper()
	out := filepath.Join(c.t.TempDir(), "stdout")
	f, err := os.Create(out)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(c.bin, args...)
	cmd.Env, cmd.Dir = c.env(), c.dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	return cmd, out
}

// kill9 SIGKILLs a compod started by start, and waits until the programs
// it was running (CNI plugins, iptables) have ended on their own too: gc
// comes after them, as an operator's would.
func (c *cli) kill9(cmd *exec.Cmd) {
	c.t.Helper()
	pid := cmd.Process.Pid
	syscall.Kill(pid, syscall.SIGKILL)
	cmd.Wait()
	poll(c.t, 20*time.Second, "the killed up's children to end", func() bool { return len(groupMembers(pid)) == 0 })
}

// groupMembers lists the live processes of process group pgid.
func groupMembers(pgid int) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndex(s, ")")+1:])
		// fields after the command: state ppid pgrp ...
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// poll checks cond (test side) until it holds or the timeout passes.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slowCompose is a pod whose launch takes a moment.
func slowCompose() string { return testenv.SlowStartCompose() }

// `down` of a pod started with `up -d` whose health probes run every
// 100 ms stops it within its grace period and removes it, round after
// round: the supervisor it stops lets no probe exec half made behind (with
// containerd 1.6's runc shim such an exec kept the service from being
// killed, and down failed with "cannot delete a running process").
func TestDownDetachedWhileProbing(t *testing.T) {
	c := newCLI(t)
	c.write("compose.yaml", slowCompose())
	before := c.host()
	for round := 1; round <= 6; round++ {
		if _, errOut, code := c.run("up", "-d", "-p", "probedown"); code != 0 {
			t.Fatalf("round %d: up -d exited %d: %s", round, code, errOut)
		}
		// Probes run meanwhile; down comes at some point of one of them.
		time.Sleep(time.Duration(round) * 400 * time.Millisecond)
		start := time.Now()
		_, errOut, code := c.run("down", "-p", "probedown", "-t", "1")
		if code != 0 {
			t.Fatalf("round %d: down exited %d: %s", round, code, errOut)
		}
		// -t 1 for two services in sequence, plus the supervisor's exit and
		// the removal: seconds, with room for a loaded 2-core host.
		if took := time.Since(start); took > 15*time.Second {
			t.Errorf("round %d: down took %v with -t 1: %s", round, took, errOut)
		}
		c.assertNoLeak(before, "probedown")
	}
}
