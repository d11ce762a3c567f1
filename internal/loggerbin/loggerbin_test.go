package loggerbin_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compod/compod/internal/loggerbin"
)

// These tests need neither root nor containerd, only the go command.

const regenerate = "regenerate it with `go generate ./internal/loggerbin` and commit internal/loggerbin/bin/compod-logger and bin/compod-logger.info"

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

// The committed binary is the one its .info describes, and the one compod
// embeds.
func TestBinaryRecord(t *testing.T) {
	rec := readRecord(t, "bin/compod-logger.info")
	if got := fileSHA256(t, "bin/compod-logger"); got != rec.sha256 {
		t.Fatalf("bin/compod-logger has sha256 %s, its .info records %s: %s", got, rec.sha256, regenerate)
	}
	file, _ := os.ReadFile("bin/compod-logger")
	embedded, err := loggerbin.Binary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(embedded, file) {
		t.Fatal("the embedded log writer differs from bin/compod-logger")
	}
}

// The committed binary is cmd/compod-logger (and internal/logfile) as they
// are now: rebuilt the same way it has the same sha256. As for the pause
// binary, the build is reproducible for one Go release only.
func TestBinaryUpToDate(t *testing.T) {
	rec := readRecord(t, "bin/compod-logger.info")
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to rebuild bin/compod-logger with: %v", err)
	}
	dir := t.TempDir()
	// The go:generate command, writing into dir instead of bin/.
	cmd := exec.CommandContext(t.Context(), goCmd, "run", "../pauseimage/gen", "-o", dir,
		"-pkg", "github.com/compod/compod/cmd/compod-logger", "-name", "compod-logger", "-by", "go generate ./internal/loggerbin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	fresh := readRecord(t, filepath.Join(dir, "compod-logger.info"))
	if fresh.goVersion != rec.goVersion {
		t.Skipf("bin/compod-logger was built with %s and the go command here is %s, so it cannot be checked (the build is reproducible for one Go release only). Run the tests with %s, as CI does; or, if the project is moving to %s, %s.",
			rec.goVersion, fresh.goVersion, rec.goVersion, fresh.goVersion, regenerate)
	}
	if fresh.sha256 != rec.sha256 {
		t.Fatalf("bin/compod-logger is stale: rebuilt with %s it has sha256 %s, its .info records %s: %s",
			fresh.goVersion, fresh.sha256, rec.sha256, regenerate)
	}
}

// Install writes the binary once, executable, and finds it the next time.
func TestInstall(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bin")
	p, err := loggerbin.Install(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("%s: %v %v", p, fi, err)
	}
	again, err := loggerbin.Install(dir)
	if err != nil || again != p {
		t.Fatalf("second Install: %s, %v", again, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%s holds %d files, want the binary only", dir, len(ents))
	}
}
