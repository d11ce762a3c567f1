package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/runtime"
)

func progress(img string, offset, total int64, done bool) runtime.PullProgress {
	return runtime.PullProgress{Image: img, Offset: offset, Total: total, Done: done, Started: time.Now(),
		Blobs: []runtime.BlobProgress{{Digest: "sha256:0123456789abcdef0123", MediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
			Status: map[bool]string{true: runtime.BlobDone, false: runtime.BlobDownloading}[done], Offset: offset, Total: total}}}
}

// Not on a terminal: a line when a pull starts and when it ends, none in
// between within the interval.
func TestPullRendererPlain(t *testing.T) {
	var out bytes.Buffer
	r := &pullRenderer{w: &out, last: map[string]runtime.PullProgress{}, printed: map[string]time.Time{}}
	r.update(progress("reg/app:1", 0, 40<<20, false))
	r.update(progress("reg/app:1", 10<<20, 40<<20, false))
	r.update(progress("reg/db:2", 1<<20, 2<<20, false))
	r.update(progress("reg/app:1", 40<<20, 40<<20, true))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"pulling reg/app:1: 0.0/40.0 MiB, 0/1 layers", "pulling reg/db:2: 1.0/2.0 MiB, 0/1 layers", "pulled reg/app:1: 40.0 MiB in "}
	if len(lines) != len(want) {
		t.Fatalf("lines %q, want %q", lines, want)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d %q, want %q...", i, lines[i], want[i])
		}
	}
}

// On a terminal: every update redraws the pulls' lines in place (cursor
// up over the last redraw's lines), with a bar and a line per layer
// being downloaded.
func TestPullRendererTerminal(t *testing.T) {
	var out bytes.Buffer
	r := &pullRenderer{w: &out, tty: true, width: 200, last: map[string]runtime.PullProgress{}, printed: map[string]time.Time{}}
	r.update(progress("reg/app:1", 10<<20, 40<<20, false))
	first := out.String()
	if !strings.Contains(first, "pulling reg/app:1 [======>") || !strings.Contains(first, "10.0/40.0 MiB") || !strings.Contains(first, "0123456789ab [") {
		t.Errorf("first draw %q: want the image line with a bar and bytes, and the layer's line", first)
	}
	out.Reset()
	r.update(progress("reg/app:1", 40<<20, 40<<20, true))
	second := out.String()
	// Up two lines (image, layer), the done line, the layer's line cleared,
	// back up one.
	if !strings.HasPrefix(second, "\x1b[2A") || !strings.Contains(second, "pulled reg/app:1: 40.0 MiB") || !strings.HasSuffix(second, "\x1b[1A") {
		t.Errorf("redraw %q: want cursor up 2, the done line, the stale line cleared", second)
	}
}
