package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	buildMu sync.Mutex
	built   = map[string]*buildResult{}
	rootDir struct {
		once sync.Once
		dir  string
		err  error
	}
)

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// ModuleRoot is the directory of this repository's go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	rootDir.once.Do(func() {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			rootDir.err = err
			return
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			rootDir.err = os.ErrNotExist
			return
		}
		rootDir.dir = filepath.Dir(gomod)
	})
	if rootDir.err != nil {
		t.Fatalf("finding the module root with `go env GOMOD`: %v", rootDir.err)
	}
	return rootDir.dir
}

// BuildBinary builds the package pkg ("./cmd/compod", relative to the module
// root) as a static binary, once per test process, and returns its path.
func BuildBinary(t testing.TB, pkg string) string {
	t.Helper()
	root := ModuleRoot(t)
	buildMu.Lock()
	r := built[pkg]
	if r == nil {
		r = &buildResult{}
		built[pkg] = r
	}
	buildMu.Unlock()
	r.once.Do(func() {
		// One stable path per checkout and package: each process builds
		// into a temp file and renames it into place, so concurrent test
		// processes never see a half-written binary and nothing piles up
		// in /tmp; two checkouts (git worktrees) never run each other's.
		sum := sha256.Sum256([]byte(root))
		dir := filepath.Join(os.TempDir(), "compod-testenv", hex.EncodeToString(sum[:4]))
		if r.err = os.MkdirAll(dir, 0o755); r.err != nil {
			return
		}
		out := filepath.Join(dir, filepath.Base(pkg))
		tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
		// -trimpath: the same sources give the same binary (and so the same
		// testapp image digest) whichever checkout builds them.
		cmd := exec.Command("go", "build", "-trimpath", "-o", tmp, pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp)
			r.err = &buildError{pkg: pkg, err: err, out: string(b)}
			return
		}
		if r.err = os.Rename(tmp, out); r.err != nil {
			os.Remove(tmp)
			return
		}
		r.path = out
	})
	if r.err != nil {
		t.Fatalf("%v", r.err)
	}
	return r.path
}

type buildError struct {
	pkg, out string
	err      error
}

func (e *buildError) Error() string { return "go build " + e.pkg + ": " + e.err.Error() + "\n" + e.out }

// CompodBinary is ./cmd/compod, built once per test process.
func CompodBinary(t testing.TB) string {
	t.Helper()
	return BuildBinary(t, "./cmd/compod")
}
