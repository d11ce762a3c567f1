package runtime_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// registry returns the loopback registry's address (hack/registry.sh).
func registry(t *testing.T) string { return testenv.Registry(t) }

// pushTestapp pushes the testapp image under a name the namespace does
// not know, so an up has to pull it.
func pushTestapp(t *testing.T, h *harness, addr string) string {
	return testenv.PushTestapp(t, h.client, addr)
}

// A pull reports its progress: reports naming the image, the last one
// done with every blob in and as many bytes as the image's size.
func TestPullReportsProgress(t *testing.T) {
	addr := registry(t)
	h := newHarness(t)
	ref := pushTestapp(t, h, addr)
	// The namespace has the blobs already (testapp's): the pull finds
	// them done, as a pull of an image sharing layers with a local one.
	var mu sync.Mutex
	var reports []runtime.PullProgress
	pod := "cfgpull-progress"
	plan := h.compose(pod, fmt.Sprintf("services:\n  web:\n    image: %s\n    command: [\"-listen\", \":8080\"]\n", ref), nil)
	_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{PullProgress: func(p runtime.PullProgress) {
		mu.Lock()
		reports = append(reports, p)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	defer h.down(pod)
	mu.Lock()
	got := slices.Clone(reports)
	mu.Unlock()
	if len(got) < 2 {
		t.Fatalf("%d progress reports, want at least a first and a last: %+v", len(got), got)
	}
	for i, p := range got {
		if p.Image != ref {
			t.Errorf("report %d names %q, want %q", i, p.Image, ref)
		}
		if p.Done && i != len(got)-1 {
			t.Errorf("report %d of %d is done: done must be the last", i, len(got))
		}
	}
	last := got[len(got)-1]
	img, err := h.client.GetImage(h.ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	size, err := img.Size(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !last.Done || last.Err != nil || last.Total != size || last.Offset != last.Total {
		t.Errorf("last report: done %v, err %v, %d/%d bytes; want done, %d/%d", last.Done, last.Err, last.Offset, last.Total, size, size)
	}
	layers := 0
	for _, b := range last.Blobs {
		if b.Status != runtime.BlobDone {
			t.Errorf("blob %s is %s in the last report", b.Digest, b.Status)
		}
		if strings.Contains(b.MediaType, "layer") {
			layers++
		}
	}
	if layers == 0 {
		t.Errorf("the last report has no layer: %+v", last.Blobs)
	}
}

// A missing image is pulled from a (plain HTTP, loopback) registry.
func TestPullMissingImageFromRegistry(t *testing.T) {
	addr := registry(t)
	h := newHarness(t)
	ref := pushTestapp(t, h, addr)
	var err error

	pod := "pulled"
	h.up(h.compose(pod, fmt.Sprintf(`
services:
  web:
    image: %s
    command: ["-listen", ":8080"]
`, ref), nil))
	defer h.down(pod)
	if _, err := h.client.GetImage(h.ctx, ref); err != nil {
		t.Errorf("the image was not pulled: %v", err)
	}
	st, _ := h.eng.Status(h.ctx, pod)
	if st.Services[0].State != runtime.StateRunning {
		t.Errorf("service is %s, want running", st.Services[0].State)
	}

	// An image the registry does not have fails fast, naming the service.
	plan := h.compose("pullmissing", fmt.Sprintf(`
services:
  ghost:
    image: %s/compod-test/nothing:here
`, addr), nil)
	start := time.Now()
	_, err = h.eng.Up(h.ctx, plan, runtime.UpOptions{})
	wantErr(t, err, `service "ghost"`, "nothing:here")
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a missing image took %v to fail: not found must not be retried", took)
	}
}
