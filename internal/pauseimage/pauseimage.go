// Package pauseimage is compod's built-in pause (sandbox) image: the static
// cmd/compod-pause binary, embedded at build time and imported into
// containerd on first use, so a host needs no registry to run pods.
package pauseimage

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/compod/compod/internal/imagebuild"
)

// DefaultRef is the name of the built-in pause image.
const DefaultRef = "compod.local/pause:1"

// bin holds README.txt and, after `make pause`, the pause binary.
//
//go:embed all:bin
var bin embed.FS

// ErrNoBinary: this compod was built with `go build` instead of `make`.
var ErrNoBinary = errors.New("compod was built without the pause binary: build with `make`")

// Binary returns the embedded pause binary.
func Binary() ([]byte, error) {
	data, err := bin.ReadFile("bin/pause")
	if errors.Is(err, fs.ErrNotExist) || err == nil && len(data) == 0 {
		return nil, ErrNoBinary
	}
	return data, err
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
