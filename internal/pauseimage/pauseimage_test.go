package pauseimage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/compod/compod/internal/imagebuild"
	"github.com/compod/compod/internal/pauseimage"
	"github.com/compod/compod/internal/testenv"
)

// These tests use their own namespace, so that the leak checks of other
// packages' tests running at the same time in testenv.Namespace never see
// their containers and snapshots; they remove it all at the end.
const namespace = "compod-test-pauseimage"

func testContext(t *testing.T, c *client.Client) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), namespace), 2*time.Minute)
	t.Cleanup(cancel)
	t.Cleanup(func() { testenv.RemoveNamespace(t, c, namespace) })
	return ctx
}

// The embedded pause image imports, runs as PID 1, reaps orphans, and
// exits 0 on SIGTERM; afterwards nothing is left.
func TestPauseImageRuns(t *testing.T) {
	c := testenv.Client(t)
	ctx := testContext(t, c)
	if _, err := pauseimage.Binary(); err != nil {
		t.Fatal(err)
	}

	img, err := pauseimage.Ensure(ctx, c, pauseimage.DefaultRef)
	if err != nil {
		t.Fatal(err)
	}
	again, err := pauseimage.Ensure(ctx, c, pauseimage.DefaultRef)
	if err != nil || again.Target().Digest != img.Target().Digest {
		t.Fatalf("second Ensure: %v, %v", again, err)
	}
	if ok, err := img.IsUnpacked(ctx, ""); err != nil || !ok {
		t.Fatalf("pause image not unpacked: %v %v", ok, err)
	}
	spec, err := img.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(spec.Config.Entrypoint, " ") != "/pause" {
		t.Errorf("entrypoint %v", spec.Config.Entrypoint)
	}

	pid, task, exitCh := startContainer(t, ctx, c, img, "pause-runs")
	if st, err := task.Status(ctx); err != nil || st.Status != client.Running {
		t.Fatalf("status %+v %v", st, err)
	}
	// Idle: a pause process uses no CPU.
	time.Sleep(300 * time.Millisecond)
	if ticks := cpuTicks(t, pid); ticks > 5 {
		t.Errorf("pause used %d clock ticks of CPU while idle", ticks)
	}
	stop(t, ctx, task, exitCh, 0)
}

// An orphan re-parented to the pause process is reaped: no zombie stays.
// The image adds busybox next to /pause to create the orphan.
func TestPauseReapsOrphans(t *testing.T) {
	c := testenv.Client(t)
	ctx := testContext(t, c)
	pause, err := pauseimage.Binary()
	if err != nil {
		t.Fatal(err)
	}
	busybox, err := os.ReadFile(testenv.BusyboxPath)
	if err != nil {
		t.Fatalf("%v (run hack/setup.sh)", err)
	}
	const ref = "compod.test/pause-reaper:1"
	arc, err := imagebuild.Archive(ref, []imagebuild.File{
		{Path: "/pause", Mode: 0o755, Data: pause},
		{Path: "/bin/busybox", Mode: 0o755, Data: busybox},
	}, imagebuild.Config{Entrypoint: []string{"/pause"}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := imagebuild.Import(ctx, c, ref, arc)
	if err != nil {
		t.Fatal(err)
	}
	pausePid, task, exitCh := startContainer(t, ctx, c, img, "pause-reaper")

	// sh exits at once; its background sleep is orphaned to PID 1 (pause).
	spec, err := task.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps := *spec.Process
	ps.Args = []string{"/bin/busybox", "sh", "-c", "/bin/busybox sleep 1 & exit 0"}
	proc, err := task.Exec(ctx, "orphaner", &ps, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	pexit, err := proc.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	<-pexit
	if _, err := proc.Delete(ctx); err != nil {
		t.Fatal(err)
	}

	// The sleep shows up as pause's child, then goes away, zombie included.
	sawOrphan := false
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		kids := children(pausePid)
		if len(kids) > 0 {
			sawOrphan = true
		} else if sawOrphan {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !sawOrphan {
		t.Fatal("the orphaned sleep never became a child of pause")
	}
	if kids := children(pausePid); len(kids) > 0 {
		t.Fatalf("pause still has children (zombies?): %v", kids)
	}
	stop(t, ctx, task, exitCh, 0)
}

// startContainer creates and starts a container of img with no network and
// no IO, and registers its deletion (task, container, snapshot).
func startContainer(t *testing.T, ctx context.Context, c *client.Client, img client.Image, id string) (uint32, client.Task, <-chan client.ExitStatus) {
	t.Helper()
	id = fmt.Sprintf("%s-%d", id, os.Getpid())
	ctr, err := c.NewContainer(ctx, id,
		client.WithNewSnapshot(id, img),
		client.WithNewSpec(oci.WithImageConfig(img), oci.WithCgroup("/compod-test-"+id)),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if task, err := ctr.Task(ctx, nil); err == nil {
			task.Delete(ctx, client.WithProcessKill)
		}
		if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil {
			t.Errorf("deleting container %s: %v", id, err)
		}
	})
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	exitCh, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return task.Pid(), task, exitCh
}

// stop sends SIGTERM and wants the task to exit with code want, then
// deletes the task.
func stop(t *testing.T, ctx context.Context, task client.Task, exitCh <-chan client.ExitStatus, want uint32) {
	t.Helper()
	if err := task.Kill(ctx, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-exitCh:
		if st.Error() != nil || st.ExitCode() != want {
			t.Errorf("exit %d (%v), want %d", st.ExitCode(), st.Error(), want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit 10s after SIGTERM")
	}
	if _, err := task.Delete(ctx); err != nil {
		t.Errorf("deleting task: %v", err)
	}
}

// children lists the pids whose parent is pid (zombies included).
func children(pid uint32) []string {
	var kids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndex(s, ")")+2:]) // state ppid ...
		if len(f) > 1 && f[1] == strconv.Itoa(int(pid)) {
			kids = append(kids, e.Name()+"("+f[0]+")")
		}
	}
	return kids
}

// cpuTicks is utime+stime of pid.
func cpuTicks(t *testing.T, pid uint32) int {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(stat)
	f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	u, _ := strconv.Atoi(f[11])
	k, _ := strconv.Atoi(f[12])
	return u + k
}
