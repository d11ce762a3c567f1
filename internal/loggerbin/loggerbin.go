// Package loggerbin is compod's log writer, cmd/compod-logger: a small
// static program embedded at build time and written into the state dir at
// first use, which the containerd shim runs for every task (one process
// per task, for as long as the task runs: it must be small).
//
// The binary is committed as bin/compod-logger, with bin/compod-logger.info
// recording the Go release and sha256 it was built with, so that a plain
// `go build` or `go install` of compod embeds it. After changing
// cmd/compod-logger or internal/logfile, or when the project moves to
// another Go release, regenerate both files with
// `go generate ./internal/loggerbin` (or `make pause`) and commit them;
// TestBinaryUpToDate fails until then.
package loggerbin

//go:generate go run ../pauseimage/gen -o bin -pkg github.com/compod/compod/cmd/compod-logger -name compod-logger -by "go generate ./internal/loggerbin"

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// binary is cmd/compod-logger built for linux/amd64.
//
//go:embed bin/compod-logger
var binary string

// Arch is the architecture of the embedded binary.
const Arch = "amd64"

// Binary returns a copy of the embedded log writer.
func Binary() ([]byte, error) {
	if len(binary) == 0 {
		return nil, errors.New("compod was built with an empty log writer: run `go generate ./internal/loggerbin`")
	}
	if runtime.GOARCH != Arch {
		return nil, fmt.Errorf("the built-in log writer is linux/%s and this compod is for %s", Arch, runtime.GOARCH)
	}
	return []byte(binary), nil
}

// Install writes the embedded log writer into dir, unless it is there
// already, and returns its path. The name carries the binary's hash, so
// that compods of different versions sharing a state dir never replace a
// program that running shims still execute, and a file is never rewritten
// in place (the rename is atomic).
func Install(dir string) (string, error) {
	data, err := Binary()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	path := filepath.Join(dir, "compod-logger-"+hex.EncodeToString(sum[:6]))
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(data)) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("installing the log writer: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".compod-logger-*")
	if err != nil {
		return "", fmt.Errorf("installing the log writer: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o755), os.Rename(tmp.Name(), path)); err != nil {
		return "", fmt.Errorf("installing the log writer in %s: %w", dir, err)
	}
	return path, nil
}
