package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Import imports an OCI layout archive (from Archive) into the namespace of
// ctx, names the image ref, and unpacks it into the client's default
// snapshotter. It is idempotent: when ref already points at the archive's
// manifest and is unpacked, nothing is written.
func Import(ctx context.Context, c *client.Client, ref string, archive []byte) (client.Image, error) {
	want, err := manifestFor(archive)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	if img, err := c.GetImage(ctx, ref); err == nil && img.Target().Digest == want.Digest {
		if ok, err := img.IsUnpacked(ctx, ""); err == nil && ok {
			return img, nil
		}
	} else if err != nil && !errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}

	// The archive names its manifest (io.containerd.image.name, or the OCI
	// ref.name through the translator); ref is enforced below in case the
	// archive carries another name.
	imported, err := c.Import(ctx, bytes.NewReader(archive),
		client.WithImageRefTranslator(func(string) string { return ref }),
		client.WithImportPlatform(platforms.Only(platforms.DefaultSpec())))
	if err != nil {
		return nil, fmt.Errorf("importing image %s: %w", ref, err)
	}
	var meta *images.Image
	for i := range imported {
		if imported[i].Name == ref {
			meta = &imported[i]
		}
	}
	if meta == nil {
		m := images.Image{Name: ref, Target: want}
		if _, err := c.ImageService().Update(ctx, m, "target"); errdefs.IsNotFound(err) {
			_, err = c.ImageService().Create(ctx, m)
			if err != nil && !errdefs.IsAlreadyExists(err) {
				return nil, fmt.Errorf("naming image %s: %w", ref, err)
			}
		} else if err != nil {
			return nil, fmt.Errorf("naming image %s: %w", ref, err)
		}
	}
	img, err := c.GetImage(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("image %s after import: %w", ref, err)
	}
	if ok, err := img.IsUnpacked(ctx, ""); err != nil || !ok {
		if err := img.Unpack(ctx, ""); err != nil {
			return nil, fmt.Errorf("unpacking image %s: %w", ref, err)
		}
	}
	return img, nil
}

// manifestFor returns the descriptor of the archive's manifest for this
// machine's platform (the only one when it has no platform).
func manifestFor(archive []byte) (ocispec.Descriptor, error) {
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return ocispec.Descriptor{}, errors.New("archive has no index.json (not an OCI image layout)")
		}
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("reading archive: %w", err)
		}
		if hdr.Name != ocispec.ImageIndexFile && hdr.Name != "./"+ocispec.ImageIndexFile {
			continue
		}
		var idx ocispec.Index
		if err := json.NewDecoder(tr).Decode(&idx); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("index.json: %w", err)
		}
		match := platforms.Only(platforms.DefaultSpec())
		for _, m := range idx.Manifests {
			if m.Platform == nil && len(idx.Manifests) == 1 || m.Platform != nil && match.Match(*m.Platform) {
				return m, nil
			}
		}
		return ocispec.Descriptor{}, fmt.Errorf("archive has no manifest for %s", platforms.DefaultString())
	}
}
