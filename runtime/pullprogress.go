package runtime

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// pullProgressInterval is how often a pull reports its progress.
const pullProgressInterval = 500 * time.Millisecond

// Blob states in a PullProgress.
const (
	BlobWaiting     = "waiting"     // known, not being fetched yet
	BlobDownloading = "downloading" // being fetched: Offset of Total bytes
	BlobDone        = "done"        // in the content store
)

// PullProgress is where one image pull stands: the blobs (index,
// manifest, config, layers) met so far and their bytes. Blobs appear as
// the pull discovers them (layers once the manifest is read), so Total
// grows at first. The last report of a pull has Done set, with every blob
// done and Offset equal to Total (the image's size), or Err set.
type PullProgress struct {
	Image string
	Blobs []BlobProgress
	// Offset and Total are the sums over Blobs.
	Offset, Total int64
	Started       time.Time
	Done          bool
	Err           error
}

// BlobProgress is one blob of a pull.
type BlobProgress struct {
	Digest    string
	MediaType string
	Status    string // BlobWaiting, BlobDownloading or BlobDone
	Offset    int64
	Total     int64
}

// pullTracker records the blobs of one pull (a wrapper around the pull's
// handlers sees each descriptor before it is fetched, and the children a
// manifest names: the layers, which the unpacker fetches itself) and reads
// their state from the content store: the fetches in flight from its ingest statuses, the finished
// ones from the blobs themselves, as ctr does.
type pullTracker struct {
	image   string
	store   content.Store
	started time.Time

	mu    sync.Mutex
	descs []ocispec.Descriptor
	keys  []string // refs of descs' fetches (remotes.MakeRefKey)
}

// wrap is the pull's handler wrapper (client.WithImageHandlerWrapper)
// that records descriptors and their children.
func (t *pullTracker) wrap(h images.Handler) images.Handler {
	return images.HandlerFunc(func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		t.record(ctx, desc)
		children, err := h.Handle(ctx, desc)
		if images.IsManifestType(desc.MediaType) {
			t.record(ctx, children...)
		}
		return children, err
	})
}

func (t *pullTracker) record(ctx context.Context, descs ...ocispec.Descriptor) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, desc := range descs {
		if !slices.ContainsFunc(t.descs, func(d ocispec.Descriptor) bool { return d.Digest == desc.Digest }) {
			t.descs = append(t.descs, desc)
			t.keys = append(t.keys, remotes.MakeRefKey(ctx, desc))
		}
	}
}

// finished is the last report of a pull that succeeded: every blob is
// done, including layers the unpacker did not need to fetch because their
// snapshots existed.
func finished(p PullProgress) PullProgress {
	p.Done, p.Offset = true, 0
	for i := range p.Blobs {
		p.Blobs[i].Status, p.Blobs[i].Offset = BlobDone, p.Blobs[i].Total
		p.Offset += p.Blobs[i].Total
	}
	return p
}

// progress reads where the pull stands now.
func (t *pullTracker) progress(ctx context.Context) PullProgress {
	t.mu.Lock()
	descs, keys := slices.Clone(t.descs), slices.Clone(t.keys)
	t.mu.Unlock()
	p := PullProgress{Image: t.image, Started: t.started}
	active := map[string]content.Status{}
	if len(descs) > 0 {
		// Every ingest in the namespace: one call, whatever the number
		// of blobs. A failed call only delays this report's bytes.
		if sts, err := t.store.ListStatuses(ctx); err == nil {
			for _, s := range sts {
				active[s.Ref] = s
			}
		}
	}
	for i, d := range descs {
		b := BlobProgress{Digest: d.Digest.String(), MediaType: d.MediaType, Total: d.Size, Status: BlobWaiting}
		if s, ok := active[keys[i]]; ok {
			b.Status, b.Offset = BlobDownloading, s.Offset
			if s.Total > 0 {
				b.Total = s.Total
			}
		} else if _, err := t.store.Info(ctx, d.Digest); err == nil {
			b.Status, b.Offset = BlobDone, b.Total
		}
		p.Blobs = append(p.Blobs, b)
		p.Offset += b.Offset
		p.Total += b.Total
	}
	return p
}

// reportPull calls report every pullProgressInterval until stop is
// closed; the caller waits for the returned channel to close before it
// sends its final report, so that report is the last.
func (t *pullTracker) reportPull(ctx context.Context, report func(PullProgress), stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(pullProgressInterval)
		defer tick.Stop()
		report(t.progress(ctx))
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				report(t.progress(ctx))
			}
		}
	}()
	return done
}

// Bytes is "12.3/40.0 MiB": the bytes pulled of the bytes known, in the
// unit of the total.
func (p PullProgress) Bytes() string {
	unit, div := "B", 1.0
	switch {
	case p.Total >= 1<<30:
		unit, div = "GiB", 1<<30
	case p.Total >= 1<<20:
		unit, div = "MiB", 1<<20
	case p.Total >= 1<<10:
		unit, div = "KiB", 1<<10
	}
	if unit == "B" {
		return fmt.Sprintf("%d/%d B", p.Offset, p.Total)
	}
	return fmt.Sprintf("%.1f/%.1f %s", float64(p.Offset)/div, float64(p.Total)/div, unit)
}

// Layers counts the layers known and those done.
func (p PullProgress) Layers() (done, all int) {
	for _, b := range p.Blobs {
		if images.IsLayerType(b.MediaType) {
			all++
			if b.Status == BlobDone {
				done++
			}
		}
	}
	return done, all
}

// String is one line for logs and status messages: "pulling
// registry/app:1: asking the registry" (before the manifest is known),
// "pulling registry/app:1: 12.3/40.0 MiB, 2/5 layers", "pulled
// registry/app:1: 40.0 MiB in 2.1s".
func (p PullProgress) String() string {
	switch {
	case p.Err != nil:
		return fmt.Sprintf("pulling %s failed after %s: %v", p.Image, p.Bytes(), p.Err)
	case p.Done:
		return fmt.Sprintf("pulled %s: %s in %.1fs", p.Image, p.Bytes()[strings.Index(p.Bytes(), "/")+1:], time.Since(p.Started).Seconds())
	}
	if len(p.Blobs) == 0 {
		return fmt.Sprintf("pulling %s: asking the registry", p.Image)
	}
	done, all := p.Layers()
	return fmt.Sprintf("pulling %s: %s, %d/%d layers", p.Image, p.Bytes(), done, all)
}
