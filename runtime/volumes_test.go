package runtime_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// Named volumes keep their data across down and up, as docker's do; down
// -v removes them; an external volume must exist and is never removed; an
// anonymous volume goes with its pod.
func TestNamedVolumesOutliveThePod(t *testing.T) {
	h := newHarness(t)
	const pod = "volkeep"
	compose := fmt.Sprintf(`
services:
  app:
    image: %s
    command: ["sh", "-c", "cat /data/count 2>/dev/null; echo x >> /data/count; echo x >> /ext/count; echo x >> /anon/count; sleep 600"]
    volumes: [data:/data, shared:/ext, /anon]
volumes:
  data: {}
  shared:
    external: true
    name: volkeep-shared
`, testenv.BusyboxRef)
	grace := time.Second
	countOf := func(path string) int {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("reading volume file: %v", err)
		}
		return strings.Count(string(b), "x")
	}
	dataFile := filepath.Join(h.stateDir, "volumes", pod+"_data", "count")
	extFile := filepath.Join(h.stateDir, "volumes", "volkeep-shared", "count")

	// A missing external volume: refused before anything is made.
	_, err := h.eng.Up(h.ctx, h.compose(pod, compose, nil), runtime.UpOptions{})
	if err == nil || !strings.Contains(err.Error(), `external volume "volkeep-shared" does not exist`) ||
		!strings.Contains(err.Error(), "compod volume create volkeep-shared") {
		t.Fatalf("up with a missing external volume: %v", err)
	}
	h.assertNoLeak()
	if _, err := os.Stat(filepath.Join(h.stateDir, "volumes", pod+"_data")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused launch made a volume: %v", err)
	}

	if _, err := h.eng.CreateVolume("volkeep-shared"); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		h.up(h.compose(pod, compose, nil))
		waitFor(t, 10*time.Second, "the service wrote its volumes", func() (bool, string) {
			b, _ := os.ReadFile(dataFile)
			return strings.Count(string(b), "x") == round, string(b)
		})
		if err := h.eng.Down(h.ctx, pod, runtime.DownOptions{Timeout: &grace}); err != nil {
			t.Fatal(err)
		}
		h.assertNoLeak()
		if n := countOf(dataFile); n != round {
			t.Errorf("round %d: named volume has %d writes, want %d (data lost across down/up)", round, n, round)
		}
	}
	// The anonymous volume went with the pod: nothing of it is left.
	if ents, _ := os.ReadDir(filepath.Join(h.stateDir, "pods")); len(ents) != 0 {
		t.Errorf("pod dirs left: %v", ents)
	}

	// down -v removes the named volume, not the external one.
	h.up(h.compose(pod, compose, nil))
	if err := h.eng.Down(h.ctx, pod, runtime.DownOptions{Timeout: &grace, RemoveVolumes: true}); err != nil {
		t.Fatal(err)
	}
	h.assertNoLeak()
	if _, err := os.Stat(filepath.Dir(dataFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("down -v kept the named volume: %v", err)
	}
	if n := countOf(extFile); n != 3 {
		t.Errorf("external volume has %d writes, want 3 (it must never be removed)", n)
	}
	if err := h.eng.RemoveVolume("volkeep-shared"); err != nil {
		t.Fatal(err)
	}
}

// A missing bind source of the short syntax is made as a directory, as
// docker does; the long syntax without bind.create_host_path is an error
// that names the service and the path, and nothing is made.
func TestMissingBindSource(t *testing.T) {
	h := newHarness(t)
	const pod = "bindsrc"
	long := h.compose(pod, fmt.Sprintf(`
services:
  app:
    image: %s
    command: ["sleep", "600"]
    volumes:
      - type: bind
        source: ./config
        target: /config
`, testenv.BusyboxRef), nil)
	_, err := h.eng.Up(h.ctx, long, runtime.UpOptions{})
	missing := filepath.Join(long.WorkingDir, "config")
	if err == nil || !strings.Contains(err.Error(), `service "app"`) || !strings.Contains(err.Error(), missing+" does not exist") {
		t.Fatalf("up with a missing long-syntax bind source: %v", err)
	}
	h.assertNoLeak()
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused launch made %s: %v", missing, err)
	}

	short := h.compose(pod, fmt.Sprintf(`
services:
  app:
    image: %s
    command: ["sh", "-c", "echo hello > /data/out; sleep 600"]
    volumes: ["./data:/data"]
`, testenv.BusyboxRef), nil)
	h.up(short)
	out := filepath.Join(short.WorkingDir, "data", "out")
	waitFor(t, 10*time.Second, "the service wrote into the created bind source", func() (bool, string) {
		b, err := os.ReadFile(out)
		return err == nil && string(b) == "hello\n", fmt.Sprint(string(b), err)
	})
	h.down(pod)
}

// An empty volume is filled with the image's content at its mount point,
// owner and mode included (docker's copy-up); `nocopy` leaves it empty.
func TestVolumeCopyUp(t *testing.T) {
	h := newHarness(t)
	const pod = "copyup"
	plan := h.compose(pod, fmt.Sprintf(`
services:
  a:
    image: %[1]s
    command: ["sleep", "600"]
    volumes: ["homes:/home", "/tmp"]
  b:
    image: %[1]s
    command: ["sleep", "600"]
    volumes: ["bare:/home:nocopy"]
volumes:
  homes: {}
  bare: {}
`, testenv.BusyboxRef), nil)
	h.up(plan)
	homes := filepath.Join(h.stateDir, "volumes", pod+"_homes")
	if fi, err := os.Stat(filepath.Join(homes, "app")); err != nil || !fi.IsDir() {
		t.Errorf("volume homes lacks the image's /home/app: %v", err)
	}
	anon := filepath.Join(h.stateDir, "pods", pod, "volumes", "anon-a-1")
	if fi, err := os.Stat(anon); err != nil || fi.Mode().Perm() != 0o777 || fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("anonymous volume at /tmp: %v, want the image's mode 1777 (%v)", fi.Mode(), err)
	}
	if ents, err := os.ReadDir(filepath.Join(h.stateDir, "volumes", pod+"_bare")); err != nil || len(ents) != 0 {
		t.Errorf("nocopy volume: %v %v, want empty", ents, err)
	}
	h.down(pod)
}
