package executor

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"text/tabwriter"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/internal/testenv"
)

// BenchmarkStatusUpdateLatency measures how long a service exit takes to
// reach the Mesos agent as a status update: from the exit time containerd
// records for the task (its /tasks/exit event) to the TASK_FAILED the agent
// emulator receives from the compod executor. Run with -benchtime=1x (make
// bench): 100 exits, 10 executors at a time, their exits 1.5 s apart so
// that one pod's removal does not share the 2 cores with the next exit.
// The executor reports a terminal state once the pod's services have
// stopped and its network and host ports are released (CNI DEL); the rest
// of the removal (containers, snapshots, cgroups) follows the update.
func BenchmarkStatusUpdateLatency(b *testing.B) {
	const rounds, perRound = 10, 10
	e := newE2E(b, e2eOpts{})
	exits := testenv.WatchExits(b)
	var lat []time.Duration
	for n := 0; n < b.N; n++ {
		for r := 0; r < rounds; r++ {
			lat = append(lat, statusRound(b, e, exits, perRound)...)
		}
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)*50/100], lat[len(lat)*99/100]
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nfigure\texits\tp50\tp99\tmax")
	fmt.Fprintf(tw, "service exit → TASK_FAILED at the agent\t%d\t%v\t%v\t%v\n", len(lat),
		p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	tw.Flush()
}

// statusRound launches n single-service pods whose service exits 3 at
// staggered times and returns, per exit, exit → TASK_FAILED received.
func statusRound(b *testing.B, e *e2e, exits *testenv.ExitTimes, n int) []time.Duration {
	type launched struct {
		task mesos.TaskInfo
		pod  string
		ex   interface {
			WaitState(context.Context, string, ...mesos.TaskState) (mesos.TaskStatus, error)
		}
	}
	var all []launched
	for i := 0; i < n; i++ {
		compose := fmt.Sprintf("services:\n  side:\n    image: %s\n    command: [\"sh\", \"-c\", \"busybox sleep %.2f; exit 3\"]\n",
			testenv.BusyboxRef, 6+1.5*float64(i))
		task := taskInfo(fmt.Sprintf("bench%d", i), []string{"compose.yml"}, nil)
		ex := e.launch(task, map[string]string{"compose.yml": compose})
		all = append(all, launched{task: task, pod: e.pods[len(e.pods)-1], ex: ex})
	}
	var out []time.Duration
	for _, l := range all {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		_, err := l.ex.WaitState(ctx, l.task.TaskID.Value, mesos.TASK_FAILED)
		cancel()
		if err != nil {
			b.Fatalf("task %s: %v", l.task.TaskID.Value, err)
		}
	}
	for i, l := range all {
		exited, ok := exits.Get(l.pod + "_side")
		if !ok {
			b.Fatalf("no exit event for pod %s", l.pod)
		}
		var received time.Time
		for _, r := range e.exs[len(e.exs)-n+i].Records() {
			if r.Status.TaskID.Value == l.task.TaskID.Value && r.Status.GetState() == mesos.TASK_FAILED {
				received = r.Received
				break
			}
		}
		out = append(out, received.Sub(exited))
	}
	for _, ex := range e.exs[len(e.exs)-n:] {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ex.Wait(ctx)
		cancel()
	}
	return out
}
