package runtime_test

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/compod/compod/runtime"
)

// A launch killed after it made the pod's directory and before it wrote
// the pod's record leaves a directory with only its owner lock: gc lists
// it (dry run), then removes it, but not while the lock is held.
func TestGCIncompleteLaunch(t *testing.T) {
	h := newHarness(t)
	dir := filepath.Join(h.stateDir, "pods", "halfmade")
	if err := os.MkdirAll(dir, 0o710); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "owner.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	// Its owner still runs: not garbage.
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if pods, err := h.eng.GC(h.ctx, runtime.GCOptions{}); err != nil || len(pods) != 0 {
		t.Fatalf("gc with the owner alive: %+v %v", pods, err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("gc removed a live launch's directory: %v", err)
	}
	// The owner dies.
	unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	pods, err := h.eng.GC(h.ctx, runtime.GCOptions{DryRun: true})
	if err != nil || len(pods) != 1 || pods[0].Name != "halfmade" || pods[0].State != "incomplete" || pods[0].Removed {
		t.Fatalf("gc --dry-run: %+v %v, want halfmade listed as incomplete", pods, err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("a dry run removed the directory: %v", err)
	}
	pods, err = h.eng.GC(h.ctx, runtime.GCOptions{})
	if err != nil || len(pods) != 1 || !pods[0].Removed {
		t.Fatalf("gc: %+v %v, want halfmade removed", pods, err)
	}
	if pods, err := h.eng.GC(h.ctx, runtime.GCOptions{}); err != nil || len(pods) != 0 {
		t.Errorf("second gc: %+v %v", pods, err)
	}
	h.assertNoLeak()
}
