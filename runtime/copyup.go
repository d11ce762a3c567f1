package runtime

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/continuity/fs"

	"github.com/compod/compod/translate"
)

// copyUp fills the service's empty volumes with what its image has at
// their mount points, as docker does when it first mounts a volume (the
// `node_modules` pattern, images that ship defaults in a VOLUME). Owner,
// mode and content are copied; a volume with anything in it, a mount with
// `nocopy`, and a mount point the image does not have are left alone. The
// image's path is resolved inside the image's root, so a symlink in the
// image cannot make compod copy a host directory.
func (e *Engine) copyUp(ctx context.Context, rec *PodRecord, svc *translate.ServiceSpec, ctr client.Container) error {
	var want []translate.MountSpec
	for _, m := range svc.Mounts {
		if m.Type == "volume" && !m.NoCopy {
			want = append(want, m)
		}
	}
	if len(want) == 0 {
		return nil
	}
	// Services of a pod are created in parallel and may share a volume:
	// one fills it, the others then find it not empty.
	e.copyUpMu.Lock()
	defer e.copyUpMu.Unlock()
	var todo []translate.MountSpec
	for _, m := range want {
		if empty, err := isEmptyDir(e.volumePath(rec, m.Source)); err != nil {
			return fmt.Errorf("volume %q: %w", m.Source, err)
		} else if empty {
			todo = append(todo, m)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	info, err := ctr.Info(ctx)
	if err != nil {
		return fmt.Errorf("reading container %s: %w", ctr.ID(), err)
	}
	mounts, err := e.client.SnapshotService(info.Snapshotter).Mounts(ctx, info.SnapshotKey)
	if err != nil {
		return fmt.Errorf("mounts of snapshot %s: %w", info.SnapshotKey, err)
	}
	return mount.WithReadonlyTempMount(ctx, mounts, func(root string) error {
		for _, m := range todo {
			src, err := fs.RootPath(root, m.Target)
			if err != nil {
				return fmt.Errorf("volume %q at %s: resolving the image's path: %w", m.Source, m.Target, err)
			}
			if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
				continue // the image has nothing to copy there
			}
			if err := fs.CopyDir(e.volumePath(rec, m.Source), src); err != nil {
				return fmt.Errorf("volume %q at %s: copying the image's content: %w", m.Source, m.Target, err)
			}
		}
		return nil
	})
}

// isEmptyDir says whether dir has no entries.
func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if err == io.EOF {
		return true, nil
	}
	return false, err
}
