package loggerbin_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/compod/compod/internal/binfile/binfiletest"
	"github.com/compod/compod/internal/loggerbin"
)

var logger = binfiletest.Artifact{
	Name:       "compod-logger",
	Regenerate: "go generate ./internal/loggerbin",
	Gen: []string{"../pauseimage/gen", "-pkg", "github.com/compod/compod/cmd/compod-logger",
		"-name", "compod-logger", "-by", "go generate ./internal/loggerbin"},
	Embedded: loggerbin.Binary,
}

// The committed binary is the one its .info describes, and the one compod
// embeds.
func TestBinaryRecord(t *testing.T) { binfiletest.CheckRecord(t, logger) }

// The committed binary is cmd/compod-logger (and internal/logfile) as they
// are now.
func TestBinaryUpToDate(t *testing.T) { binfiletest.CheckUpToDate(t, logger) }

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
