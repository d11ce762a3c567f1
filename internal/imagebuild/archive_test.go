package imagebuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var testFiles = []File{
	{Path: "/bin/app", Mode: 0o755, Data: []byte("#!/bin/sh\necho hi\n")},
	{Path: "/bin/sh", Link: "/bin/app"},
	{Path: "/tmp", Dir: true, Mode: 0o777 | os.ModeSticky},
	{Path: "etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\n")},
}

var testConfig = Config{
	Entrypoint:   []string{"/bin/app"},
	Cmd:          []string{"-v"},
	Env:          []string{"A=b"},
	WorkingDir:   "/tmp",
	User:         "1000:1000",
	ExposedPorts: []string{"8080", "53/udp"},
	Labels:       map[string]string{"x": "y", "a": "b"},
	Healthcheck:  &HealthConfig{Test: []string{"CMD", "/bin/app"}, Interval: time.Second, Timeout: 2 * time.Second, Retries: 3, StartPeriod: 5 * time.Second},
}

func TestArchiveDeterministic(t *testing.T) {
	a, err := Archive("compod.test/x:1", testFiles, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Archive("compod.test/x:1", testFiles, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("same input gave different archives")
	}
	// Input order does not matter either.
	rev := append([]File(nil), testFiles...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	c, err := Archive("compod.test/x:1", rev, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, c) {
		t.Fatal("file order changed the archive")
	}
	d, _ := Archive("compod.test/x:1", testFiles, Config{Entrypoint: []string{"/bin/app"}})
	if bytes.Equal(a, d) {
		t.Fatal("another config gave the same archive")
	}
}

func TestArchiveContent(t *testing.T) {
	arc, err := Archive("compod.test/x:1", testFiles, testConfig)
	if err != nil {
		t.Fatal(err)
	}
	entries := untar(t, arc)
	var layout ocispec.ImageLayout
	mustJSON(t, entries["oci-layout"], &layout)
	if layout.Version != ocispec.ImageLayoutVersion {
		t.Errorf("oci-layout %+v", layout)
	}
	var idx ocispec.Index
	mustJSON(t, entries["index.json"], &idx)
	if len(idx.Manifests) != 1 {
		t.Fatalf("index: %+v", idx)
	}
	md := idx.Manifests[0]
	if md.Annotations["io.containerd.image.name"] != "compod.test/x:1" || md.Annotations[ocispec.AnnotationRefName] != "1" {
		t.Errorf("manifest annotations %v", md.Annotations)
	}
	if md.Platform == nil || md.Platform.OS != "linux" {
		t.Errorf("manifest platform %+v", md.Platform)
	}
	var m ocispec.Manifest
	mustJSON(t, entries["blobs/sha256/"+md.Digest.Encoded()], &m)
	if len(m.Layers) != 1 || m.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Fatalf("manifest %+v", m)
	}

	var cfg map[string]any
	mustJSON(t, entries["blobs/sha256/"+m.Config.Digest.Encoded()], &cfg)
	conf := cfg["config"].(map[string]any)
	hc := conf["Healthcheck"].(map[string]any)
	if hc["Interval"].(float64) != float64(time.Second) || hc["Retries"].(float64) != 3 || hc["Test"].([]any)[1] != "/bin/app" {
		t.Errorf("Healthcheck %v", hc)
	}
	ports := conf["ExposedPorts"].(map[string]any)
	if _, ok := ports["8080/tcp"]; !ok {
		t.Errorf("ExposedPorts %v", ports)
	}
	if _, ok := ports["53/udp"]; !ok {
		t.Errorf("ExposedPorts %v", ports)
	}
	if env := conf["Env"].([]any); len(env) != 2 || env[0] != DefaultPath || env[1] != "A=b" {
		t.Errorf("Env %v", env)
	}
	if conf["User"] != "1000:1000" || conf["WorkingDir"] != "/tmp" {
		t.Errorf("config %v", conf)
	}

	zr, err := gzip.NewReader(bytes.NewReader(entries["blobs/sha256/"+m.Layers[0].Digest.Encoded()]))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	if got := cfg["rootfs"].(map[string]any)["diff_ids"].([]any)[0]; got != digestOf(raw) {
		t.Errorf("diff_id %v, want %v", got, digestOf(raw))
	}
	tr := tar.NewReader(bytes.NewReader(raw))
	var names []string
	hdrs := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		hdrs[h.Name] = h
		if !h.ModTime.Equal(time.Unix(0, 0)) || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: mtime %v uid %d gid %d", h.Name, h.ModTime, h.Uid, h.Gid)
		}
	}
	want := []string{"bin/", "bin/app", "bin/sh", "etc/", "etc/passwd", "tmp/"}
	if len(names) != len(want) {
		t.Fatalf("layer entries %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("layer entries %v, want %v", names, want)
		}
	}
	if h := hdrs["tmp/"]; h.Mode != 0o1777 {
		t.Errorf("/tmp mode %o", h.Mode)
	}
	if h := hdrs["bin/sh"]; h.Typeflag != tar.TypeSymlink || h.Linkname != "/bin/app" {
		t.Errorf("/bin/sh %+v", h)
	}
	if h := hdrs["bin/app"]; h.Mode != 0o755 {
		t.Errorf("/bin/app mode %o", h.Mode)
	}
	if h := hdrs["etc/passwd"]; h.Mode != 0o644 {
		t.Errorf("/etc/passwd mode %o", h.Mode)
	}
}

func TestArchiveErrors(t *testing.T) {
	if _, err := Archive("x:1", []File{{Path: "/a"}, {Path: "a"}}, Config{}); err == nil {
		t.Error("duplicate path accepted")
	}
	if _, err := Archive("x:1", []File{{Path: "/a", Data: []byte("f")}, {Path: "/a/b"}}, Config{}); err == nil {
		t.Error("file inside a regular file accepted")
	}
	if _, err := Archive("", nil, Config{}); err == nil {
		t.Error("empty ref accepted")
	}
}

func untar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out[h.Name] = data
	}
}

func mustJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
