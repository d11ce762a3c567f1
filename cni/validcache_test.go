package cni_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/cni"
)

// A conflist that validated once is not validated again (its plugins are
// not run) by the next compod of the state dir, until the conflist or a
// plugin binary changes.
func TestValidationRemembered(t *testing.T) {
	bin, confDir, stateDir := t.TempDir(), t.TempDir(), t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls")
	// Wrappers that count their runs around Debian's plugins.
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		real := ""
		for _, d := range testBinDirs {
			if _, err := os.Stat(filepath.Join(d, p)); err == nil {
				real = filepath.Join(d, p)
				break
			}
		}
		if real == "" {
			t.Fatalf("plugin %s is in none of %v", p, testBinDirs)
		}
		script := fmt.Sprintf("#!/bin/sh\necho %s >> %s\nexec %s \"$@\"\n", p, calls, real)
		if err := os.WriteFile(filepath.Join(bin, p), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := `{"cniVersion": "1.0.0", "name": "cpdvalid", "plugins": [{"type": "bridge", "bridge": "cpdvalid0", "ipam": {"type": "host-local", "subnet": "10.197.30.0/24"}}]}`
	if err := os.WriteFile(filepath.Join(confDir, "cpdvalid.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := func() int {
		data, _ := os.ReadFile(calls)
		return strings.Count(string(data), "\n")
	}
	validate := func() {
		t.Helper()
		// A new Network each time, as each compod command makes.
		n, err := cni.New(cni.Config{ConfDir: confDir, StateDir: stateDir, BinDirs: []string{bin}})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Validate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	validate()
	first := runs()
	if first == 0 {
		t.Fatal("the first validation ran no plugin")
	}
	validate()
	if got := runs(); got != first {
		t.Errorf("the second validation ran plugins %d times, want none", got-first)
	}
	// An upgraded plugin (a new modification time) is validated again.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(filepath.Join(bin, "bridge"), later, later); err != nil {
		t.Fatal(err)
	}
	validate()
	if got := runs(); got == first {
		t.Error("a changed plugin binary was not validated again")
	}
}
