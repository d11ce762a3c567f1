// Package binfiletest checks a program compod embeds that is committed as
// a reproducible build: bin/NAME with bin/NAME.info recording the Go release
// and sha256 it was built with (the pause program, the log writer). The
// tests need neither root nor containerd, only the go command.
package binfiletest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Artifact is one committed binary, seen from its package's directory (the
// directory go test runs the package's tests in).
type Artifact struct {
	// Name is the file in bin/ (and NAME.info).
	Name string
	// Regenerate is what to run to rebuild it, e.g.
	// "go generate ./internal/pauseimage".
	Regenerate string
	// Gen is the go:generate command's arguments after `go run`, without
	// its -o (the output directory the check adds).
	Gen []string
	// Embedded is the copy compod embeds.
	Embedded func() ([]byte, error)
}

func (a Artifact) regenerate() string {
	return "regenerate it with `" + a.Regenerate + "` and commit bin/" + a.Name + " and bin/" + a.Name + ".info"
}

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

// CheckRecord: the committed binary is the one its .info describes, and the
// one compod embeds.
func CheckRecord(t *testing.T, a Artifact) {
	t.Helper()
	bin := filepath.Join("bin", a.Name)
	rec := readRecord(t, bin+".info")
	if got := fileSHA256(t, bin); got != rec.sha256 {
		t.Fatalf("%s has sha256 %s, %s.info records %s: %s", bin, got, bin, rec.sha256, a.regenerate())
	}
	file, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := a.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(embedded, file) {
		t.Fatalf("the embedded %s differs from %s", a.Name, bin)
	}
}

// CheckUpToDate: the committed binary is its source as it is now: rebuilt
// the same way (the go:generate command) it has the same sha256.
//
// The build is reproducible for one Go release only. With another Go the
// check is skipped loudly: there is nothing to compare against, which is
// not a failure of the artifact (it still runs, and CheckRecord still
// checks it is the recorded one); CI runs the recorded release.
func CheckUpToDate(t *testing.T, a Artifact) {
	t.Helper()
	bin := filepath.Join("bin", a.Name)
	rec := readRecord(t, bin+".info")
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to rebuild %s with: %v", bin, err)
	}
	dir := t.TempDir()
	args := append(append([]string{"run"}, a.Gen...), "-o", dir)
	cmd := exec.CommandContext(t.Context(), goCmd, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	fresh := readRecord(t, filepath.Join(dir, a.Name+".info"))
	if fresh.goVersion != rec.goVersion {
		t.Skipf("%s was built with %s and the go command here is %s, so it cannot be checked against its source "+
			"(the build is reproducible for one Go release only). Run the tests with %s, as CI does; "+
			"or, if the project is moving to %s, %s.",
			bin, rec.goVersion, fresh.goVersion, rec.goVersion, fresh.goVersion, a.regenerate())
	}
	if got := fileSHA256(t, filepath.Join(dir, a.Name)); got != fresh.sha256 {
		t.Fatalf("gen recorded sha256 %s for a file with sha256 %s", fresh.sha256, got)
	}
	if fresh.sha256 != rec.sha256 {
		t.Fatalf("%s is stale: rebuilt with %s it has sha256 %s, %s.info records %s: %s",
			bin, fresh.goVersion, fresh.sha256, bin, rec.sha256, a.regenerate())
	}
}
