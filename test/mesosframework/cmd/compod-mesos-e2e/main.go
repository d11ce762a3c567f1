// Command compod-mesos-e2e runs compod's real-agent scenarios against a
// Mesos master and agent built from source (hack/mesos-e2e.sh starts them;
// `make mesos-e2e MESOS_BUILD=<dir>`): it subscribes as a v1 framework
// (package test/mesosframework), launches compose pods with compod as the
// CUSTOM executor, and checks them from outside: launch, port, cgroup, kill,
// executor crash. Each scenario prints one PASS/FAIL/SKIP line with its
// figures, and is appended to -results as a tab-separated line
// (set, scenario, result, figures, detail).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"

	"github.com/compod/compod/test/mesosframework"
)

type options struct {
	master, agent      string
	compod, workDir    string
	containerd, ns     string
	image              string
	set, results       string
	scenarios          string
	launchTimeout      time.Duration
	killTimeout        time.Duration
	offerTimeout       time.Duration
	cpus, mem          float64
	execCPUs, execMem  float64
	checkpoint, events bool
	agentPID           int
}

func main() {
	var o options
	flag.StringVar(&o.master, "master", "127.0.0.1:5150", "Mesos master host:port")
	flag.StringVar(&o.agent, "agent", "127.0.0.1:5151", "Mesos agent host:port (its /containers and /state endpoints)")
	flag.IntVar(&o.agentPID, "agent-pid", 0, "the agent's pid: cgroups left in hierarchies its mount namespace lacks are reported as notes, not failures")
	flag.StringVar(&o.compod, "compod", "bin/compod", "compod binary the agent runs as the executor")
	flag.StringVar(&o.workDir, "work-dir", "/var/tmp/compod-mesos-e2e/framework", "where the compose files the agent fetches are written")
	flag.StringVar(&o.containerd, "containerd", "/run/compod-test/containerd.sock", "containerd socket the executor uses (for the host checks)")
	flag.StringVar(&o.ns, "namespace", "compod-mesos-e2e", "containerd namespace the executor uses (CONTAINERD_NAMESPACE)")
	flag.StringVar(&o.image, "image", "compod.test/busybox:1", "busybox image of the test pod (go run ./hack/images)")
	flag.StringVar(&o.set, "set", "", "isolator set under test, for the results (the agent's --isolation)")
	flag.StringVar(&o.results, "results", "", "append one tab-separated line per scenario to this file")
	flag.StringVar(&o.scenarios, "scenarios", "launch,port,cgroup,kill,crash", "scenarios to run, comma-separated")
	flag.DurationVar(&o.launchTimeout, "launch-timeout", 90*time.Second, "bound on LAUNCH -> TASK_RUNNING")
	flag.DurationVar(&o.killTimeout, "kill-timeout", 60*time.Second, "bound on KILL -> TASK_KILLED and on executor crash -> TASK_FAILED")
	flag.DurationVar(&o.offerTimeout, "offer-timeout", 60*time.Second, "bound on waiting for offers")
	flag.Float64Var(&o.cpus, "cpus", 0.5, "task cpus")
	flag.Float64Var(&o.mem, "mem", 256, "task mem (MB)")
	flag.Float64Var(&o.execCPUs, "executor-cpus", 0.1, "executor cpus")
	flag.Float64Var(&o.execMem, "executor-mem", 64, "executor mem (MB)")
	flag.BoolVar(&o.checkpoint, "checkpoint", true, "framework checkpointing (as Marathon)")
	flag.BoolVar(&o.events, "v", true, "log every scheduler event")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "compod-mesos-e2e:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	var err error
	if o.compod, err = filepath.Abs(o.compod); err != nil {
		return err
	}
	if _, err := os.Stat(o.compod); err != nil {
		return fmt.Errorf("compod binary: %w (make build)", err)
	}
	if err := os.MkdirAll(o.workDir, 0o755); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, s := range strings.Split(o.scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if !knownScenario(s) {
				return fmt.Errorf("-scenarios: unknown scenario %q (known: %s)", s, strings.Join(scenarioNames, ","))
			}
			want[s] = true
		}
	}

	c, err := client.New(o.containerd, client.WithTimeout(10*time.Second))
	if err != nil {
		return fmt.Errorf("connecting to containerd at %s: %w", o.containerd, err)
	}
	defer c.Close()

	start := time.Now()
	logf := func(format string, args ...any) {}
	if o.events {
		logf = func(format string, args ...any) {
			log.Printf("[%7.3fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
		}
	}
	log.SetFlags(0)
	log.SetPrefix("  ")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	fw, err := mesosframework.Subscribe(ctx, mesosframework.Config{Master: o.master, Checkpoint: o.checkpoint, Logf: logf})
	cancel()
	if err != nil {
		return err
	}
	r := &runner{o: o, fw: fw, c: c, want: want, logf: logf, runID: time.Now().Format("150405")}
	r.netnsBefore = compodNetns()
	r.scenarios()

	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := fw.Close(ctx); err != nil {
		logf("teardown: %v", err)
	}
	if err := r.writeResults(); err != nil {
		return err
	}
	for _, res := range r.results {
		if res.result == fail {
			return fmt.Errorf("%s: scenario(s) failed", o.set)
		}
	}
	return nil
}
