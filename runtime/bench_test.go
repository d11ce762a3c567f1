package runtime_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/containerd/containerd/v2/client"

	"github.com/compod/compod/internal/testenv"
)

// BenchmarkExitDetection measures how long a service exit takes to become a
// pod state change: from the exit time containerd records for the task to
// the state Watch delivers. Run with -benchtime=1x (make bench): each run
// makes 100 exits (10 pods × 10 services exiting 150 ms apart).
func BenchmarkExitDetection(b *testing.B) {
	const pods, services = 10, 10
	h := newHarness(b)
	var lat []time.Duration
	for i := 0; i < b.N; i++ {
		for p := 0; p < pods; p++ {
			lat = append(lat, exitLatencies(b, h, fmt.Sprintf("bench%d-%d", i, p), services)...)
		}
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)*50/100], lat[len(lat)*99/100]
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nfigure\texits\tp50\tp99\tmax")
	fmt.Fprintf(tw, "service exit → pod state (runtime.Watch)\t%d\t%v\t%v\t%v\n", len(lat), p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	tw.Flush()
}

// exitLatencies runs a pod whose n services exit one after another and
// returns, per exit, the time from the task's exit to the state reporting it.
func exitLatencies(b *testing.B, h *harness, pod string, n int) []time.Duration {
	var yaml strings.Builder
	yaml.WriteString("services:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&yaml, "  s%d:\n    image: %s\n    command: [\"sh\", \"-c\", \"sleep %.2f\"]\n", i, testenv.BusyboxRef, 1+0.15*float64(i))
	}
	h.up(h.compose(pod, yaml.String(), nil))
	defer h.down(pod)
	states := h.watch(pod)
	seen := map[string]time.Time{}
	deadline := time.After(60 * time.Second)
	for len(seen) < n {
		select {
		case st := <-states:
			for svc := range st.Exits {
				if _, ok := seen[svc]; !ok {
					seen[svc] = st.Time
				}
			}
		case <-deadline:
			b.Fatalf("pod %s: saw %d of %d exits", pod, len(seen), n)
		}
	}
	var out []time.Duration
	for svc, observed := range seen {
		ctr, err := h.client.LoadContainer(h.ctx, pod+"_"+svc)
		if err != nil {
			b.Fatal(err)
		}
		task, err := ctr.Task(h.ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		st, err := task.Status(h.ctx)
		if err != nil || st.Status != client.Stopped {
			b.Fatalf("%s: %v %v", svc, st.Status, err)
		}
		out = append(out, observed.Sub(st.ExitTime))
	}
	return out
}
