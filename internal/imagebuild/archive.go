// Package imagebuild builds small single-layer OCI images in memory and
// imports them into containerd. It is how compod ships its pause image and
// how tests get images without pulling anything.
package imagebuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// File is one entry of the image's only layer. Parent directories are added
// as needed (0755, root-owned). Everything is owned by root.
type File struct {
	Path string      // absolute or relative to /; "/bin/sh"
	Mode os.FileMode // permission bits (plus setuid/setgid/sticky); 0 means 0644, 0755 for dirs
	Data []byte      // content of a regular file
	Link string      // symlink target if non-empty
	Dir  bool        // a directory
}

// HealthConfig is docker's image healthcheck, stored in the image config
// under "Healthcheck" exactly as docker does (durations in nanoseconds).
type HealthConfig struct {
	Test        []string      `json:",omitempty"` // ["CMD", ...], ["CMD-SHELL", "..."] or ["NONE"]
	Interval    time.Duration `json:",omitempty"`
	Timeout     time.Duration `json:",omitempty"`
	StartPeriod time.Duration `json:",omitempty"`
	Retries     int           `json:",omitempty"`
}

// Config is the image's run configuration.
type Config struct {
	Entrypoint   []string
	Cmd          []string
	Env          []string // KEY=value; PATH gets a default if absent
	WorkingDir   string
	User         string
	ExposedPorts []string // "8080" (tcp) or "53/udp"
	Labels       map[string]string
	StopSignal   string // e.g. "SIGINT"; empty: none (runtimes send SIGTERM)
	Healthcheck  *HealthConfig
}

// DefaultPath is the PATH an image gets when Config.Env sets none.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// epoch is every mtime in the archive, so equal input gives equal digests.
var epoch = time.Unix(0, 0).UTC()

// imageConfig is ocispec.ImageConfig plus docker's Healthcheck field.
type imageConfig struct {
	ocispec.ImageConfig
	Healthcheck *HealthConfig `json:"Healthcheck,omitempty"`
}

type image struct {
	ocispec.Image
	Config imageConfig `json:"config"`
}

// Archive returns an OCI image layout tar (oci-layout, index.json, blobs)
// holding one linux image for this machine's architecture, named ref, whose
// only layer (gzip) holds files. The output is deterministic.
func Archive(ref string, files []File, cfg Config) ([]byte, error) {
	if ref == "" {
		return nil, fmt.Errorf("imagebuild: empty image reference")
	}
	layer, diffID, err := layerTar(files)
	if err != nil {
		return nil, err
	}

	env := cfg.Env
	if !hasPath(env) {
		env = append([]string{DefaultPath}, env...)
	}
	var ports map[string]struct{}
	if len(cfg.ExposedPorts) > 0 {
		ports = map[string]struct{}{}
		for _, p := range cfg.ExposedPorts {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			ports[p] = struct{}{}
		}
	}
	img := image{
		Image: ocispec.Image{
			Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
			RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
			History:  []ocispec.History{{Created: &epoch, CreatedBy: "compod imagebuild"}},
			Created:  &epoch,
		},
		Config: imageConfig{
			ImageConfig: ocispec.ImageConfig{
				User:         cfg.User,
				ExposedPorts: ports,
				Env:          env,
				Entrypoint:   cfg.Entrypoint,
				Cmd:          cfg.Cmd,
				WorkingDir:   cfg.WorkingDir,
				Labels:       cfg.Labels,
				StopSignal:   cfg.StopSignal,
			},
			Healthcheck: cfg.Healthcheck,
		},
	}
	configJSON, err := json.Marshal(img)
	if err != nil {
		return nil, err
	}

	blobs := map[digest.Digest][]byte{}
	add := func(mediaType string, data []byte) ocispec.Descriptor {
		d := digest.FromBytes(data)
		blobs[d] = data
		return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(data))}
	}
	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    add(ocispec.MediaTypeImageConfig, configJSON),
		Layers:    []ocispec.Descriptor{add(ocispec.MediaTypeImageLayerGzip, layer)},
	}
	manifestJSON, err := json.Marshal(manifest)
	if err != nil {
		return nil, err
	}
	mdesc := add(ocispec.MediaTypeImageManifest, manifestJSON)
	mdesc.Platform = &img.Platform
	mdesc.Annotations = map[string]string{
		images.AnnotationImageName: ref,
		ocispec.AnnotationRefName:  refName(ref),
	}
	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{mdesc},
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return nil, err
	}
	layoutJSON, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	write := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	digests := make([]string, 0, len(blobs))
	for d := range blobs {
		digests = append(digests, d.String())
	}
	sort.Strings(digests)
	for _, d := range digests {
		dg := digest.Digest(d)
		if err := write("blobs/"+dg.Algorithm().String()+"/"+dg.Encoded(), blobs[dg]); err != nil {
			return nil, err
		}
	}
	if err := write(ocispec.ImageLayoutFile, layoutJSON); err != nil {
		return nil, err
	}
	if err := write(ocispec.ImageIndexFile, indexJSON); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// refName is the OCI ref.name annotation: the tag of ref ("1" for
// "compod.local/pause:1"), or ref itself when it has no tag.
func refName(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") && !strings.Contains(ref, "@") {
		return ref[i+1:]
	}
	return ref
}

func hasPath(env []string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			return true
		}
	}
	return false
}

// layerTar returns the gzipped layer and the digest of the uncompressed tar.
func layerTar(files []File) ([]byte, digest.Digest, error) {
	entries := map[string]File{}
	for _, f := range files {
		p := path.Clean("/" + f.Path)
		if p == "/" {
			continue
		}
		name := strings.TrimPrefix(p, "/")
		if _, dup := entries[name]; dup {
			return nil, "", fmt.Errorf("imagebuild: %s given twice", p)
		}
		f.Path = name
		entries[name] = f
	}
	// Parent directories that were not given explicitly.
	for name := range entries {
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if e, ok := entries[dir]; ok {
				if !e.Dir {
					return nil, "", fmt.Errorf("imagebuild: /%s is not a directory but /%s is inside it", dir, name)
				}
				continue
			}
			entries[dir] = File{Path: dir, Dir: true}
		}
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	sort.Strings(names) // a directory sorts before everything inside it

	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, name := range names {
		f := entries[name]
		hdr := &tar.Header{Name: name, ModTime: epoch, Format: tar.FormatPAX, Uname: "root", Gname: "root"}
		switch {
		case f.Dir:
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, name+"/", mode(f.Mode, 0o755)
		case f.Link != "":
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, f.Link, 0o777
		default:
			hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeReg, int64(len(f.Data)), mode(f.Mode, 0o644)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, "", fmt.Errorf("imagebuild: /%s: %w", name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, "", err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	diffID := digest.FromBytes(raw.Bytes())

	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed) // header has no name and a zero mtime
	if err != nil {
		return nil, "", err
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return gz.Bytes(), diffID, nil
}

// mode converts an os.FileMode to tar's mode bits.
func mode(m os.FileMode, def int64) int64 {
	if m.Perm() == 0 && m&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky) == 0 {
		return def
	}
	bits := int64(m.Perm())
	if m&os.ModeSetuid != 0 {
		bits |= 0o4000
	}
	if m&os.ModeSetgid != 0 {
		bits |= 0o2000
	}
	if m&os.ModeSticky != 0 {
		bits |= 0o1000
	}
	return bits
}
