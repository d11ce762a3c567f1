package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/runtime"
)

func (c *cli) gc(args ...string) []runtime.GCPod {
	c.t.Helper()
	out, errOut, code := c.run(append([]string{"gc", "--format", "json"}, args...)...)
	if code != 0 {
		c.t.Fatalf("gc %v exited %d: %s", args, code, errOut)
	}
	var pods []runtime.GCPod
	if err := json.Unmarshal([]byte(out), &pods); err != nil {
		c.t.Fatalf("gc json: %v: %s", err, out)
	}
	return pods
}

func gcNames(pods []runtime.GCPod) []string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	return names
}

// `compod up` killed with SIGKILL at a few points of a launch (early, with
// the sandbox being made, once the pod runs): `compod gc` then removes
// whatever it left, nothing is left on the host, and the name can be used
// again at once.
func TestGCAfterKilledUp(t *testing.T) {
	c := newCLI(t)
	c.write("compose.yaml", slowCompose())
	before := c.host()
	// 20 points from the process's start (flags, compose load) through
	// images, netns pin, CNI ADD, the pause container, the services' creation
	// and the wait for db's health, to the started pod.
	for _, ms := range []int{0, 25, 50, 75, 100, 150, 200, 250, 300, 400, 500, 600, 750, 900, 1100, 1300, 1500, 2000, 2500, 3000} {
		after := time.Duration(ms) * time.Millisecond
		t.Run(after.String(), func(t *testing.T) {
			c.t = t
			cmd, stdout := c.start("up", "-p", "gckill")
			time.Sleep(after) // the point of the launch the kill hits
			c.kill9(cmd)
			out, _ := os.ReadFile(stdout)
			started := strings.Contains(string(out), "pod gckill started")
			t.Logf("killed after %v (pod started: %v)", after, started)
			pods := c.gc()
			t.Logf("gc: %+v", pods)
			if started && !slices.Contains(gcNames(pods), "gckill") {
				t.Errorf("gc did not collect the pod of a killed up: %+v", pods)
			}
			for _, p := range pods {
				if !p.Removed {
					t.Errorf("gc: %+v not removed", p)
				}
			}
			if ps, _, _ := c.run("ps", "--format", "json"); strings.Contains(ps, "gckill") {
				t.Errorf("ps after gc: %s", ps)
			}
			c.assertNoLeak(before, "gckill")
			if _, errOut, code := c.run("up", "-d", "-p", "gckill"); code != 0 {
				t.Fatalf("up -d of the name after gc exited %d: %s", code, errOut)
			}
			if _, errOut, code := c.run("down", "-p", "gckill", "-t", "1"); code != 0 {
				t.Errorf("down exited %d: %s", code, errOut)
			}
			c.assertNoLeak(before, "gckill")
		})
	}
}

// gc never touches a live pod — one that `up -d` handed to its supervisor,
// nor one being launched — and --dry-run lists what it would remove
// without removing it; a second gc finds nothing.
func TestGCKeepsLivePods(t *testing.T) {
	c := newCLI(t)
	c.write("compose.yaml", slowCompose())
	before := c.host()
	defer func() {
		for _, pod := range []string{"gclive", "gcslow", "gcorphan"} {
			c.run("down", "-p", pod, "-t", "1")
		}
		c.assertNoLeak(before, "gclive", "gcslow", "gcorphan")
	}()
	if _, errOut, code := c.run("up", "-d", "-p", "gclive"); code != 0 {
		t.Fatalf("up -d exited %d: %s", code, errOut)
	}
	// An orphan: a foreground up killed once its pod runs.
	orphan, stdout := c.start("up", "-p", "gcorphan")
	poll(t, 30*time.Second, "the orphan pod to start", func() bool {
		b, _ := os.ReadFile(stdout)
		return strings.Contains(string(b), "pod gcorphan started")
	})
	c.kill9(orphan)
	// A launch under way (up -d of a pod that takes a moment to start).
	slow, _ := c.start("up", "-d", "-p", "gcslow")
	poll(t, 10*time.Second, "the slow launch to begin", func() bool {
		_, err := os.Stat(filepath.Join(c.stateDir, "pods", "gcslow", "pod.json"))
		return err == nil
	})

	dry := c.gc("--dry-run")
	if names := gcNames(dry); !slices.Equal(names, []string{"gcorphan"}) {
		t.Errorf("gc --dry-run lists %v, want only the orphan", names)
	}
	for _, p := range dry {
		if p.Removed || p.Owner["kind"] != runtime.OwnerKindCLI || p.State != string(runtime.PhaseRunning) {
			t.Errorf("gc --dry-run: %+v, want the running orphan of the CLI, not removed", p)
		}
	}
	table, _, _ := c.run("gc", "--dry-run")
	if !strings.Contains(table, "gcorphan") || !strings.Contains(table, "would remove") {
		t.Errorf("gc --dry-run table:\n%s", table)
	}
	if ps, _, _ := c.run("ps", "-p", "gcorphan", "--format", "json"); !strings.Contains(ps, `"running"`) {
		t.Errorf("gc --dry-run removed something: ps %s", ps)
	}

	pods := c.gc()
	if names := gcNames(pods); !slices.Equal(names, []string{"gcorphan"}) || !pods[0].Removed {
		t.Errorf("gc: %+v, want the orphan removed", pods)
	}
	if err := slow.Wait(); err != nil {
		t.Errorf("up -d of a pod gc saw being launched: %v", err)
	}
	for _, pod := range []string{"gclive", "gcslow"} {
		out, _, _ := c.run("ps", "-p", pod, "--format", "json")
		var st []runtime.PodStatus
		if err := json.Unmarshal([]byte(out), &st); err != nil || len(st) != 1 || st[0].State != runtime.PhaseRunning {
			t.Errorf("after gc, %s: %s", pod, out)
		}
	}
	if pods := c.gc(); len(pods) != 0 {
		t.Errorf("a second gc found %+v", pods)
	}
	if out, _, code := c.run("gc"); code != 0 || !strings.Contains(out, "no pods whose owner is gone") {
		t.Errorf("gc with nothing to do: exit %d, %q", code, out)
	}
}
