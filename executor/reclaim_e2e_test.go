package executor

// An executor that dies without removing its pod — SIGKILLed, or destroyed
// by the agent together with its pod because the container outgrew the
// task's memory — leaves containerd's containers, the netns pin, the CNI
// attachment (IPAM address, host-port DNAT) behind: the agent only kills
// the processes of its cgroups. The next compod executor on the agent
// reclaims them, so the next task on the same host port runs.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/internal/agentsim"
	"github.com/compod/compod/internal/testenv"
)

func TestE2EExecutorKilledPodReclaimed(t *testing.T) {
	eachIsolation(t, e2eOpts{}, testExecutorKilled)
}

func testExecutorKilled(t *testing.T, e *e2e) {
	{
		ports := freePorts(t, 1)
		compose := "services:" + fmt.Sprintf(webService, testenv.BusyboxRef) + fmt.Sprintf(sideService, testenv.BusyboxRef)
		files := map[string]string{"docker-compose.yml": compose}
		task := taskInfo("crash", []string{"docker-compose.yml"}, ports)
		ex := e.launch(task, files)
		run := waitState(t, ex, task.TaskID.Value, mesos.TASK_RUNNING, 60*time.Second)
		port := labelValue(run, "compod.port.web.8080/tcp")
		httpEventually(t, port, "hello-from-compod")

		killExecutor(t, ex)
		st := waitState(t, ex, task.TaskID.Value, mesos.TASK_FAILED, 20*time.Second)
		if st.GetSource() != mesos.SOURCE_AGENT || st.GetReason() != mesos.REASON_EXECUTOR_TERMINATED {
			t.Errorf("after the executor's SIGKILL: %v %v %q", st.GetSource(), st.GetReason(), st.GetMessage())
		}
		waitExit(t, ex, 20*time.Second)

		assertNextTaskRuns(t, e, ports, files)
	}
}

func TestE2EMemoryLimitPodReclaimed(t *testing.T) {
	eachIsolation(t, e2eOpts{}, func(t *testing.T, e *e2e) {
		ports := freePorts(t, 1)
		web := "services:" + fmt.Sprintf(webService, testenv.BusyboxRef)
		// The task has 256 MiB (and the executor 32): the hog outgrows them.
		hog := web + fmt.Sprintf("  hog:\n    image: %s\n    environment:\n      TESTAPP_ALLOC_MB: \"600\"\n", testenv.TestappRef)
		task := taskInfo("oom", []string{"docker-compose.yml"}, ports)
		ex := e.launch(task, map[string]string{"docker-compose.yml": hog})
		st := waitState(t, ex, task.TaskID.Value, mesos.TASK_FAILED, 120*time.Second)
		if st.GetReason() != mesos.REASON_CONTAINER_LIMITATION_MEMORY {
			t.Errorf("TASK_FAILED %v %v %q, want REASON_CONTAINER_LIMITATION_MEMORY", st.GetSource(), st.GetReason(), st.GetMessage())
		}
		exit := waitExit(t, ex, 20*time.Second)
		t.Logf("TASK_FAILED from %v: %q; executor exit: forced=%v %s", st.GetSource(), st.GetMessage(), exit.Forced, exit.Reason)
		if !exit.Forced {
			t.Errorf("the agent did not destroy the container for its memory limit: %+v", exit)
		}

		assertNextTaskRuns(t, e, ports, map[string]string{"docker-compose.yml": web})
	})
}

// assertNextTaskRuns launches a new task on the host port the dead pod
// held: it runs and serves, and is killed again.
func assertNextTaskRuns(t *testing.T, e *e2e, ports [][2]uint64, files map[string]string) {
	t.Helper()
	next := taskInfo("next", []string{"docker-compose.yml"}, ports)
	ex := e.launch(next, files)
	run := waitState(t, ex, next.TaskID.Value, mesos.TASK_RUNNING, 60*time.Second)
	port := labelValue(run, "compod.port.web.8080/tcp")
	if port != strconv.Itoa(int(ports[0][0])) {
		t.Fatalf("next task on host port %q, offered %d", port, ports[0][0])
	}
	httpEventually(t, port, "hello-from-compod")
	grace := time.Second
	if err := ex.Kill(ctxFor(t, 5*time.Second), next.TaskID.Value, &grace); err != nil {
		t.Fatal(err)
	}
	waitState(t, ex, next.TaskID.Value, mesos.TASK_KILLED, 15*time.Second)
	if exit := waitExit(t, ex, 20*time.Second); exit.Forced {
		t.Errorf("executor exit: %+v", exit)
	}
}

// killExecutor SIGKILLs the compod executor process: the process of the
// executor's container cgroup that runs `compod executor` (under the
// namespace isolators, the agent's launch helper is its parent).
func killExecutor(t *testing.T, ex *agentsim.Executor) {
	t.Helper()
	dir := ex.CgroupPaths()["memory"]
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(string(cmd), "\x00")
		if len(args) > 1 && args[1] == "executor" && !strings.HasSuffix(args[0], "unshare") {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no compod executor process in %s: %s", dir, b)
}
