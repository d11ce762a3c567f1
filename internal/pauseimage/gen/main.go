// Command gen builds cmd/compod-pause into the pause binary that
// internal/pauseimage embeds, reproducibly: the same source and the same Go
// release give the same bytes on any host. It writes DIR/pause and
// DIR/pause.info (the Go version and the sha256). It is run by
// `go generate ./internal/pauseimage` (DIR is bin) and by the package's
// tests (DIR is a temporary directory). With -pkg, -name and -by it builds
// another small static program the same way (internal/loggerbin's).
//
// Usage: go run ./gen [-o DIR] [-pkg PACKAGE -name NAME -by COMMAND]   (from internal/pauseimage)
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// What gets built by default, under which name, and the command that
// regenerates it (recorded in the .info file).
const (
	Package = "github.com/compod/compod/cmd/compod-pause"
	Name    = "pause"
	By      = "go generate ./internal/pauseimage"
)

// buildEnv pins everything of the environment that goes into the binary;
// GOFLAGS, GOEXPERIMENT, GOAMD64, GOFIPS140 or a go.work of the caller would
// otherwise change it. The Go toolchain itself is the one `go` runs, and is
// recorded. GOARCH is pauseimage.Arch.
var buildEnv = []string{
	"CGO_ENABLED=0",
	"GOOS=linux",
	"GOARCH=amd64",
	"GOAMD64=v1",
	"GOFLAGS=",
	"GOEXPERIMENT=",
	"GOFIPS140=off",
	"GOWORK=off",
}

// No paths of the host (-trimpath), no VCS stamp (it would change with every
// commit), no build ID, no symbol table or DWARF.
const (
	buildFlags = "-buildvcs=false -trimpath"
	ldflags    = "-s -w -buildid="
)

func main() {
	dir := flag.String("o", "bin", "output directory")
	pkg := flag.String("pkg", Package, "package to build")
	name := flag.String("name", Name, "output file name (and NAME.info)")
	by := flag.String("by", By, "the command that regenerates the output, for the .info file")
	flag.Parse()
	if err := run(*dir, *pkg, *name, *by); err != nil {
		fmt.Fprintln(os.Stderr, "pauseimage/gen:", err)
		os.Exit(1)
	}
}

func run(dir, pkg, name, by string) error {
	env := environ()
	version, err := goOutput(env, "env", "GOVERSION")
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, "."+name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, name)
	args := append([]string{"build"}, strings.Fields(buildFlags)...)
	args = append(args, "-ldflags="+ldflags, "-o", out, pkg)
	if _, err := goOutput(env, args...); err != nil {
		return err
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	info := fmt.Sprintf("# %s: %s, built by `%s` as\n"+
		"#   %s go build %s -ldflags=%q\n"+
		"# Generated, do not edit; TestBinaryUpToDate rebuilds it and compares.\n"+
		"go %s\nsha256 %s\n",
		name, pkg, by, strings.Join(buildEnv, " "), buildFlags, ldflags, version, hex.EncodeToString(sum[:]))
	if err := os.WriteFile(filepath.Join(tmp, name+".info"), []byte(info), 0o644); err != nil {
		return err
	}
	if err := os.Chmod(out, 0o755); err != nil {
		return err
	}
	for _, f := range []string{name, name + ".info"} {
		if err := os.Rename(filepath.Join(tmp, f), filepath.Join(dir, f)); err != nil {
			return err
		}
	}
	return nil
}

// environ is the caller's environment with buildEnv in place of its own
// values of those variables.
func environ() []string {
	set := map[string]bool{}
	for _, kv := range buildEnv {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !set[k] {
			env = append(env, kv)
		}
	}
	return append(env, buildEnv...)
}

// goOutput runs the go command (go generate and go test put the running
// toolchain first in PATH) and returns its trimmed standard output.
func goOutput(env []string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
