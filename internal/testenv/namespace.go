package testenv

import (
	"context"
	"testing"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

// RemoveNamespace removes a test's private namespace: it deletes the
// namespace's images (collecting their content at once), wants no
// container, snapshot or lease left, then deletes the namespace.
func RemoveNamespace(t testing.TB, c *client.Client, ns string) {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), ns)
	imgs, err := c.ImageService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range imgs {
		var opts []images.DeleteOpt
		if i == len(imgs)-1 {
			opts = append(opts, images.SynchronousDelete()) // collect garbage now
		}
		if err := c.ImageService().Delete(ctx, img.Name, opts...); err != nil {
			t.Errorf("deleting image %s: %v", img.Name, err)
		}
	}
	if ctrs, _ := c.Containers(ctx); len(ctrs) > 0 {
		t.Errorf("leftover containers in %s: %d", ns, len(ctrs))
	}
	var snaps []string
	c.SnapshotService("overlayfs").Walk(ctx, func(_ context.Context, i snapshots.Info) error {
		snaps = append(snaps, i.Name)
		return nil
	})
	if len(snaps) > 0 {
		t.Errorf("leftover snapshots in %s: %v", ns, snaps)
	}
	if ls, _ := c.LeasesService().List(ctx); len(ls) > 0 {
		t.Errorf("leftover leases in %s: %v", ns, ls)
	}
	if err := c.NamespaceService().Delete(ctx, ns); err != nil {
		t.Logf("deleting namespace %s: %v", ns, err)
	}
}
