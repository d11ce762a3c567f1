package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// lockHeld reports whether some process holds a flock on the file at
// path. It reads /proc/locks instead of trying the lock: taking it, even
// shared and for an instant, could make a process that takes it at that
// moment (a launch, `compod supervise -p`) fail as if it were held.
func lockHeld(path string) (bool, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("checking the lock %s: %w", path, err)
	}
	// /proc/locks names a file as MAJOR:MINOR:INODE of its device, in hex
	// for the device numbers (fs/locks.c: lock_get_status).
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	f, err := os.Open("/proc/locks")
	if err != nil {
		return false, fmt.Errorf("checking the lock %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// "1: FLOCK  ADVISORY  WRITE 123 08:01:456 0 EOF"; a waiter's line
		// has "->" after the number: it does not hold the lock.
		if len(fields) < 6 || fields[1] != "FLOCK" {
			continue
		}
		if fields[5] == want {
			return true, nil
		}
	}
	return false, sc.Err()
}
