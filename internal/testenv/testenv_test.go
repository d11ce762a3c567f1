package testenv_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
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

// The containers run in their own namespace so that other packages' leak
// checks in testenv.Namespace never see them; it is emptied at the end.
const namespace = "compod-test-testenv"

func TestEnsureImages(t *testing.T) {
	c := testenv.Client(t)
	start := time.Now()
	testenv.EnsureImages(t, c)
	first := time.Since(start)
	start = time.Now()
	testenv.EnsureImages(t, c)
	if again := time.Since(start); again > 2*time.Second {
		t.Errorf("second EnsureImages took %v (first %v)", again, first)
	}
	ctx := testenv.Context(t)
	for _, ref := range []string{testenv.BusyboxRef, testenv.TestappRef, pauseimage.DefaultRef} {
		img, err := c.GetImage(ctx, ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if ok, err := img.IsUnpacked(ctx, ""); err != nil || !ok {
			t.Errorf("%s not unpacked (%v)", ref, err)
		}
	}
}

func TestImagesRun(t *testing.T) {
	c := testenv.Client(t)
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), namespace), 2*time.Minute)
	t.Cleanup(cancel)
	t.Cleanup(func() { testenv.RemoveNamespace(t, c, namespace) })

	bb, err := testenv.BusyboxArchive(testenv.BusyboxRef)
	if err != nil {
		t.Fatal(err)
	}
	busybox, err := imagebuild.Import(ctx, c, testenv.BusyboxRef, bb)
	if err != nil {
		t.Fatal(err)
	}
	ta, err := testenv.TestappArchive(testenv.TestappRef, testenv.BuildBinary(t, "./test/testapp"))
	if err != nil {
		t.Fatal(err)
	}
	testapp, err := imagebuild.Import(ctx, c, testenv.TestappRef, ta)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("testapp exit code", func(t *testing.T) {
		code, out := run(t, ctx, c, testapp, "exit3", []string{"/testapp", "-exit-code", "3"})
		if code != 3 {
			t.Errorf("exit code %d, want 3; output %q", code, out)
		}
	})
	t.Run("testapp env", func(t *testing.T) {
		code, out := run(t, ctx, c, testapp, "env", []string{"/testapp", "-print-lines", "2"}, "TESTAPP_EXIT_CODE=4")
		if code != 4 || !strings.Contains(out, "stdout line 2") {
			t.Errorf("exit code %d, output %q; want 4 and two lines", code, out)
		}
	})
	t.Run("short output", func(t *testing.T) {
		for i := range 5 {
			if code, out := run(t, ctx, c, busybox, fmt.Sprint("echo", i), []string{"echo", "hi"}); code != 0 || out != "hi\n" {
				t.Errorf("run %d: exit code %d, output %q", i, code, out)
			}
		}
	})
	t.Run("busybox", func(t *testing.T) {
		code, out := run(t, ctx, c, busybox, "busybox", []string{"sh", "-c", "echo $(id -u app) $(ls -d /tmp) $(wget --help 2>&1 | head -c 7); exit 5"})
		if code != 5 || strings.TrimSpace(out) != "1000 /tmp BusyBox" {
			t.Errorf("exit code %d, output %q", code, out)
		}
	})
}

// run runs args in a new container of img (no network) and returns the exit
// code and output; the container and its snapshot are deleted.
func run(t *testing.T, ctx context.Context, c *client.Client, img client.Image, id string, args []string, env ...string) (uint32, string) {
	t.Helper()
	id = fmt.Sprintf("%s-%d", id, os.Getpid())
	ctr, err := c.NewContainer(ctx, id,
		client.WithNewSnapshot(id, img),
		client.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs(args...), oci.WithEnv(env), oci.WithCgroup("/compod-test-"+id)),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil {
			t.Errorf("deleting container: %v", err)
		}
	}()
	var out lockedBuffer // stdout and stderr are copied concurrently
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &out, &out)))
	if err != nil {
		t.Fatal(err)
	}
	defer task.Delete(ctx, client.WithProcessKill)
	exitCh, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var st client.ExitStatus
	select {
	case st = <-exitCh:
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s")
	}
	// Task.Delete of client v2.4 cancels the IO copy (closing our ends of
	// the FIFOs) before waiting for it: let the copy reach EOF first.
	task.IO().Wait()
	if _, err := task.Delete(ctx); err != nil {
		t.Errorf("deleting task: %v", err)
	}
	return st.ExitCode(), out.String()
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
