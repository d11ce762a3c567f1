package runtime

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// lockHeld sees a flock another open file holds, and sees it go, without
// taking it.
func TestLockHeld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	if held, err := lockHeld(path); err != nil || held {
		t.Fatalf("a lock file that does not exist: held %v, err %v", held, err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if held, err := lockHeld(path); err != nil || held {
		t.Fatalf("before flock: held %v, err %v", held, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	if held, err := lockHeld(path); err != nil || !held {
		t.Fatalf("while held: held %v, err %v", held, err)
	}
	// The probe took nothing: another open file still cannot take it.
	g, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := unix.Flock(int(g.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
		t.Fatal("another open file took the lock while it was held")
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	if held, err := lockHeld(path); err != nil || held {
		t.Fatalf("after unlock: held %v, err %v", held, err)
	}
}
