// Package pauseimage is compod's built-in pause (sandbox) image: the static
// cmd/compod-pause binary, embedded at build time and imported into
// containerd on first use, so a host needs no registry to run pods.
//
// The binary is committed as bin/pause, with bin/pause.info recording the Go
// release and sha256 it was built with, so that a plain `go build` or
// `go install` of compod embeds it. After changing cmd/compod-pause, or when
// the project moves to another Go release, regenerate both files with
// `go generate ./internal/pauseimage` (or `make pause`) and commit them;
// TestBinaryUpToDate fails until then.
package pauseimage

//go:generate go run ./gen -o bin

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"runtime"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/compod/compod/internal/binfile"
	"github.com/compod/compod/internal/imagebuild"
)

// DefaultRef is the name of the built-in pause image.
const DefaultRef = "compod.local/pause:1"

// binary is cmd/compod-pause built for linux/amd64. A missing bin/pause is a
// compile error.
//
//go:embed bin/pause
var binary string

// ErrNoBinary: bin/pause was empty when this compod was built.
var ErrNoBinary = errors.New("compod was built with an empty pause binary: run `go generate ./internal/pauseimage`")

// Arch is the architecture of the embedded pause binary.
const Arch = "amd64"

// Binary returns a copy of the embedded pause binary.
func Binary() ([]byte, error) {
	if len(binary) == 0 {
		return nil, ErrNoBinary
	}
	if runtime.GOARCH != Arch {
		return nil, fmt.Errorf("the built-in pause binary is linux/%s and this compod is for %s: give a pause image with --sandbox-image", Arch, runtime.GOARCH)
	}
	return []byte(binary), nil
}

// InitPath is where a service with compose's `init: true` finds its init
// (the pause binary in its init role, bind-mounted read-only).
const InitPath = "/sbin/compod-init"

// InstallInit writes the pause binary into dir, for the services with
// `init: true`, and returns its path (see binfile.Install).
func InstallInit(dir string) (string, error) {
	data, err := Binary()
	if err != nil {
		return "", err
	}
	return binfile.Install(dir, "compod-init", data)
}

// Archive returns the pause image as an OCI layout archive named ref.
func Archive(ref string) ([]byte, error) {
	data, err := Binary()
	if err != nil {
		return nil, err
	}
	return imagebuild.Archive(ref, []imagebuild.File{
		{Path: "/pause", Mode: 0o755, Data: data},
	}, imagebuild.Config{
		Entrypoint: []string{"/pause"},
		Labels:     map[string]string{"io.compod.image": "pause"},
	})
}

// Ensure returns the image ref from the namespace of ctx; when it is missing
// it builds it from the embedded binary and imports it (unpacked).
func Ensure(ctx context.Context, c *client.Client, ref string) (client.Image, error) {
	img, err := c.GetImage(ctx, ref)
	if err == nil {
		if ok, err := img.IsUnpacked(ctx, ""); err == nil && !ok {
			if err := img.Unpack(ctx, ""); err != nil {
				return nil, fmt.Errorf("unpacking image %s: %w", ref, err)
			}
		}
		return img, nil
	}
	if !errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("looking up image %s: %w", ref, err)
	}
	archive, err := Archive(ref)
	if err != nil {
		return nil, err
	}
	return imagebuild.Import(ctx, c, ref, archive)
}
