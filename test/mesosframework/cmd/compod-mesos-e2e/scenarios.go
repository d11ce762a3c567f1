package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/test/mesosframework"
)

var scenarioNames = []string{"launch", "port", "cgroup", "kill", "crash"}

func knownScenario(s string) bool { return slices.Contains(scenarioNames, s) }

const (
	pass = "PASS"
	fail = "FAIL"
	skip = "SKIP"
)

type result struct {
	scenario, result, figures, detail string
}

type runner struct {
	o           options
	fw          *mesosframework.Framework
	c           *client.Client
	want        map[string]bool
	logf        func(string, ...any)
	runID       string
	seq         int
	netnsBefore map[string]bool
	results     []result
}

func (r *runner) report(scenario, res, figures, detail string) {
	r.results = append(r.results, result{scenario, res, figures, detail})
	line := fmt.Sprintf("%s %-7s %s", res, scenario, figures)
	if detail != "" {
		line += " | " + detail
	}
	fmt.Println(line)
}

func (r *runner) writeResults() error {
	if r.o.results == "" {
		return nil
	}
	f, err := os.OpenFile(r.o.results, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	clean := strings.NewReplacer("\t", " ", "\n", " ", "\r", " ")
	for _, res := range r.results {
		fmt.Fprintf(f, "%s\t%s\t%s\t%s\t%s\n", clean.Replace(r.o.set), res.scenario, res.result,
			clean.Replace(res.figures), clean.Replace(res.detail))
	}
	return f.Close()
}

// task is one launched compod task.
type task struct {
	id      string
	l       mesosframework.Launched
	running mesosframework.Update
	port    uint64
	pod     string
	page    string // what the pod's web service serves
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// composeFor writes the task's compose file: a busybox httpd serving a
// page that names the task (so a GET tells which pod answered), and a
// sidecar. Both are pod processes for the cgroup check.
func (r *runner) composeFor(id string) (path, page string, err error) {
	page = "hello-from-compod " + id
	dir := filepath.Join(r.o.workDir, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	yaml := fmt.Sprintf(`services:
  web:
    image: %[1]s
    command: ["sh", "-c", "busybox mkdir -p /tmp/www && echo '%[2]s' > /tmp/www/index.html && exec busybox httpd -f -p 8080 -h /tmp/www"]
    ports: ["8080"]
    stop_grace_period: 3s
  side:
    image: %[1]s
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do busybox sleep 0.1; done"]
    stop_grace_period: 3s
`, r.o.image, page)
	path = filepath.Join(dir, "compose.yaml")
	return path, page, os.WriteFile(path, []byte(yaml), 0o644)
}

// launch launches a task (on the given host ports, else the lowest offered
// one) and waits for TASK_RUNNING. The error is the terminal update when
// the task ended instead.
func (r *runner) launch(name string, ports []uint64) (*task, error) {
	r.seq++
	t := &task{id: fmt.Sprintf("e2e-%s-%s-%d", r.runID, name, r.seq)}
	compose, page, err := r.composeFor(t.id)
	if err != nil {
		return t, err
	}
	t.page = page
	spec := mesosframework.TaskSpec{
		TaskID:      t.id,
		Compod:      r.o.compod,
		ComposeFile: compose,
		Request: mesosframework.Request{
			CPUs: r.o.cpus, Mem: r.o.mem, ExecutorCPUs: r.o.execCPUs, ExecutorMem: r.o.execMem,
			Ports: ports,
		},
	}
	if len(ports) == 0 {
		spec.NumPorts = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.o.offerTimeout)
	t.l, err = r.fw.Launch(ctx, spec)
	cancel()
	if err != nil {
		return t, err
	}
	t.port = t.l.Match.Ports[0]
	ctx, cancel = context.WithTimeout(context.Background(), r.o.launchTimeout)
	defer cancel()
	t.running, err = r.fw.WaitState(ctx, t.id, mesos.TASK_RUNNING)
	if err != nil {
		return t, err
	}
	for _, l := range t.running.Status.GetLabels().GetLabels() {
		switch {
		case l.Key == "compod.pod":
			t.pod = l.GetValue()
		case strings.HasPrefix(l.Key, "compod.port.web.8080/"):
			if p, err := strconv.ParseUint(l.GetValue(), 10, 16); err == nil && p != t.port {
				return t, fmt.Errorf("TASK_RUNNING says web's 8080 is on host port %d, the task was given %d", p, t.port)
			}
		}
	}
	if t.pod == "" {
		return t, errors.New("TASK_RUNNING has no compod.pod label")
	}
	return t, nil
}

func (t *task) launchToRunning() time.Duration { return t.running.At.Sub(t.l.At) }

// kill sends KILL and waits for TASK_KILLED.
func (r *runner) kill(t *task) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.o.killTimeout)
	defer cancel()
	at, err := r.fw.Kill(ctx, t.id, t.l.Match.AgentID.Value)
	if err != nil {
		return 0, err
	}
	u, err := r.fw.WaitState(ctx, t.id, mesos.TASK_KILLED)
	if err != nil {
		return 0, err
	}
	return u.At.Sub(at), nil
}

func (r *runner) scenarios() {
	var t1 *task
	needT1 := r.want["launch"] || r.want["port"] || r.want["cgroup"] || r.want["kill"]
	if needT1 {
		var err error
		t1, err = r.launch("launch", nil)
		switch {
		case err != nil:
			r.report("launch", fail, "", launchError(err))
			t1 = nil
		default:
			r.report("launch", pass, "LAUNCH->RUNNING "+secs(t1.launchToRunning()), fmt.Sprintf("pod %s, host port %d", t1.pod, t1.port))
		}
	}
	noTask := func(s string) {
		if r.want[s] {
			r.report(s, skip, "", "no running task (launch failed)")
		}
	}
	if t1 == nil {
		noTask("port")
		noTask("cgroup")
		noTask("kill")
	} else {
		if r.want["port"] {
			r.portScenario(t1)
		}
		if r.want["cgroup"] {
			r.cgroupScenario(t1)
		}
		if r.want["kill"] {
			r.killScenario(t1)
		} else {
			r.kill(t1)
		}
	}
	if r.want["crash"] {
		r.crashScenario()
	}
}

// launchError is the reason a launch failed, with the task's updates.
func launchError(err error) string {
	var ue *mesosframework.UnexpectedError
	if errors.As(err, &ue) {
		return ue.Error()
	}
	return err.Error()
}

func (r *runner) portScenario(t *task) {
	start := time.Now()
	body, err := httpEventually(t.port, t.page, 10*time.Second)
	if err != nil {
		r.report("port", fail, "", fmt.Sprintf("GET http://127.0.0.1:%d/: %v", t.port, err))
		return
	}
	r.report("port", pass, fmt.Sprintf("GET :%d %s", t.port, secs(time.Since(start))), fmt.Sprintf("page %q", strings.TrimSpace(body)))
}

func (r *runner) cgroupScenario(t *task) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	x, err := mesosframework.FindExecutor(ctx, r.o.agent, r.fw.ID(), mesosframework.ExecutorID(t.id))
	if err != nil {
		r.report("cgroup", fail, "", err.Error())
		return
	}
	pids, err := r.podPIDs(ctx, t.pod)
	if err != nil {
		r.report("cgroup", fail, "", err.Error())
		return
	}
	if len(pids) < 3 { // pause, web, side
		r.report("cgroup", fail, "", fmt.Sprintf("pod %s has %d processes (%v), want at least 3", t.pod, len(pids), pids))
		return
	}
	want := "/mesos/" + x.ContainerID + "/"
	var bad []string
	checked := 0
	for _, pid := range pids {
		paths, err := procCgroups(pid)
		if errors.Is(err, fs.ErrNotExist) {
			continue // exited since (the sidecar's sleeps come and go)
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("pid %d: %v", pid, err))
			continue
		}
		checked++
		for _, ctl := range []string{"memory", "cpu"} {
			if p := paths[ctl]; !strings.HasPrefix(p, want) {
				bad = append(bad, fmt.Sprintf("pid %d %s cgroup %q", pid, ctl, p))
			}
		}
	}
	if len(bad) > 0 {
		r.report("cgroup", fail, "", fmt.Sprintf("not under %s: %s", want, strings.Join(bad, "; ")))
		return
	}
	if checked < 3 {
		r.report("cgroup", fail, "", fmt.Sprintf("pod %s: only %d live processes of %v", t.pod, checked, pids))
		return
	}
	figures := fmt.Sprintf("%d procs in memory+cpu %s", checked, strings.TrimSuffix(want, "/"))
	if lim, err := memoryLimit(x.ContainerID); err == nil {
		figures += fmt.Sprintf(", limit %d MiB", lim>>20)
	}
	r.report("cgroup", pass, figures, "")
}

func (r *runner) killScenario(t *task) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	x, xerr := mesosframework.FindExecutor(ctx, r.o.agent, r.fw.ID(), mesosframework.ExecutorID(t.id))
	d, err := r.kill(t)
	if err != nil {
		r.report("kill", fail, "", launchError(err))
		return
	}
	figures := "KILL->KILLED " + secs(d)
	var leaks []string
	if err := r.waitClean(t.pod, 10*time.Second); err != nil {
		leaks = append(leaks, err.Error())
	}
	var note string
	if xerr == nil {
		// Every hierarchy counts, also those hidden from the agent: compod
		// removes what runc made there through its host helper.
		hidden, err := waitCgroupGone(x.ContainerID, 20*time.Second, nil)
		if err != nil {
			leaks = append(leaks, err.Error())
		}
		note = hiddenNote(hidden)
	} else {
		leaks = append(leaks, "executor container unknown: "+xerr.Error())
	}
	if len(leaks) > 0 {
		r.report("kill", fail, figures, strings.Join(leaks, "; ")+note)
		return
	}
	r.report("kill", pass, figures, "no containers, netns or /mesos cgroup left"+note)
}

// hiddenNote tells of cgroups left in hierarchies the agent and its
// executors do not see (not a failure of compod's: it cannot remove what
// it cannot see; hack/mesos-e2e.sh removes them).
func hiddenNote(hidden []string) string {
	if len(hidden) == 0 {
		return ""
	}
	return "; note: left in a hierarchy hidden from the agent and its executors: " + strings.Join(hidden, " ")
}

func (r *runner) crashScenario() {
	t, err := r.launch("crash", nil)
	if err != nil {
		r.report("crash", fail, "", "first launch: "+launchError(err))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	x, err := mesosframework.FindExecutor(ctx, r.o.agent, r.fw.ID(), mesosframework.ExecutorID(t.id))
	cancel()
	if err != nil {
		r.report("crash", fail, "", err.Error())
		r.kill(t)
		return
	}
	pid := x.PID
	if pid == 0 {
		if pid, err = executorPID(mesosframework.ExecutorID(t.id)); err != nil {
			r.report("crash", fail, "", err.Error())
			r.kill(t)
			return
		}
	}
	r.logf("crash: kill -9 executor pid %d (container %s)", pid, x.ContainerID)
	at := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		r.report("crash", fail, "", fmt.Sprintf("kill -9 %d: %v", pid, err))
		r.kill(t)
		return
	}
	ctx, cancel = context.WithTimeout(context.Background(), r.o.killTimeout)
	u, err := r.fw.WaitState(ctx, t.id, mesos.TASK_FAILED)
	cancel()
	if err != nil {
		r.report("crash", fail, "", "after kill -9 of the executor: "+launchError(err))
		return
	}
	figures := "kill-9->FAILED " + secs(u.At.Sub(at))
	failed := fmt.Sprintf("TASK_FAILED source %s reason %s %q", u.Status.GetSource(), u.Status.GetReason(), u.Status.GetMessage())
	left := r.leftovers(t.pod)

	t2, err := r.launch("relaunch", []uint64{t.port})
	if err != nil {
		r.report("crash", fail, figures, fmt.Sprintf("%s; relaunch on port %d: %s%s", failed, t.port, launchError(err), left))
		return
	}
	figures += ", relaunch LAUNCH->RUNNING " + secs(t2.launchToRunning())
	body, gerr := httpEventually(t2.port, t2.page, 10*time.Second)
	d, kerr := r.kill(t2)
	if kerr == nil {
		figures += ", KILL->KILLED " + secs(d)
	}
	// The next executor reclaims what the dead one left (docs/mesos.md, "An
	// executor that dies"): once the relaunched task is gone, nothing of
	// either pod may remain.
	var cerr error
	if kerr == nil {
		cerr = r.waitClean(t.pod+" and "+t2.pod, 10*time.Second)
	}
	switch {
	case gerr != nil:
		r.report("crash", fail, figures, fmt.Sprintf("%s; GET :%d after relaunch: %v (body %q)%s", failed, t2.port, gerr, body, left))
	case kerr != nil:
		r.report("crash", fail, figures, fmt.Sprintf("%s; relaunched task: %s%s", failed, launchError(kerr), left))
	case cerr != nil:
		r.report("crash", fail, figures, fmt.Sprintf("%s; relaunched pod served port %d%s; after it was killed: %v", failed, t2.port, left, cerr))
	default:
		r.report("crash", pass, figures, fmt.Sprintf("%s; relaunched pod served port %d%s; nothing left after it was killed", failed, t2.port, left))
	}
}
