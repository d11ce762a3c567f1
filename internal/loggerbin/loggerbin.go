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
	_ "embed"
	"errors"
	"fmt"
	"runtime"

	"github.com/compod/compod/internal/binfile"
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
// already, and returns its path (see binfile.Install).
func Install(dir string) (string, error) {
	data, err := Binary()
	if err != nil {
		return "", err
	}
	return binfile.Install(dir, "compod-logger", data)
}
