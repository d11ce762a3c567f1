package pauseimage_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compod/compod/internal/pauseimage"
)

// These tests need neither root nor containerd, only the go command.

const regenerate = "regenerate it with `go generate ./internal/pauseimage` (or `make pause`) and commit internal/pauseimage/bin/pause and bin/pause.info"

// record is a parsed pause.info.
type record struct{ goVersion, sha256 string }

func readRecord(t *testing.T, path string) record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r record
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch k {
		case "go":
			r.goVersion = strings.TrimSpace(v)
		case "sha256":
			r.sha256 = strings.TrimSpace(v)
		}
	}
	if r.goVersion == "" || r.sha256 == "" {
		t.Fatalf("%s: no `go` or `sha256` line in\n%s", path, data)
	}
	return r
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// The committed bin/pause is the one bin/pause.info describes, and the one
// compod embeds.
func TestBinaryRecord(t *testing.T) {
	rec := readRecord(t, "bin/pause.info")
	if got := fileSHA256(t, "bin/pause"); got != rec.sha256 {
		t.Fatalf("bin/pause has sha256 %s, bin/pause.info records %s: %s", got, rec.sha256, regenerate)
	}
	file, err := os.ReadFile("bin/pause")
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := pauseimage.Binary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(embedded, file) {
		t.Fatal("the embedded pause binary differs from bin/pause")
	}
}

// The committed bin/pause is cmd/compod-pause as it is now: rebuilt the same
// way (./gen, as go generate runs it) it has the same sha256.
//
// The build is reproducible for one Go release only, so the Go running this
// test must be the one bin/pause.info records (CI's). With another Go the
// test fails rather than skips: it cannot tell a stale binary from a good
// one, and a stale one would go unnoticed. Regenerating with another Go is
// right only when the project moves to that Go.
func TestBinaryUpToDate(t *testing.T) {
	rec := readRecord(t, "bin/pause.info")
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to rebuild bin/pause with: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.CommandContext(t.Context(), goCmd, "run", "./gen", "-o", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./gen -o %s: %v\n%s", dir, err, out)
	}
	fresh := readRecord(t, filepath.Join(dir, "pause.info"))
	if fresh.goVersion != rec.goVersion {
		// Another Go release builds other bytes: there is nothing to
		// compare against, which is not a failure of the artifact (it
		// still runs, and TestBinaryRecord still checks it is the
		// recorded one). Skipped loudly rather than failing a machine
		// whose Go differs by a patch release.
		t.Skipf("bin/pause was built with %s and the go command here is %s, so it cannot be checked against cmd/compod-pause "+
			"(the build is reproducible for one Go release only). Run the tests with %s, as CI does; "+
			"or, if the project is moving to %s, %s.",
			rec.goVersion, fresh.goVersion, rec.goVersion, fresh.goVersion, regenerate)
	}
	if got := fileSHA256(t, filepath.Join(dir, "pause")); got != fresh.sha256 {
		t.Fatalf("gen recorded sha256 %s for a file with sha256 %s", fresh.sha256, got)
	}
	if fresh.sha256 != rec.sha256 {
		t.Fatalf("bin/pause is stale: cmd/compod-pause built with %s now has sha256 %s, bin/pause.info records %s: %s",
			fresh.goVersion, fresh.sha256, rec.sha256, regenerate)
	}
}
