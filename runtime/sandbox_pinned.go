package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
)

// pinnedSandbox is the sandbox of a pod whose namespaces are pinned up
// front (nspins.go): CNI ADD and the pause container's creation run in the
// background while the services are created beside them. A service's
// task is started only once networkReady says the pod's network is
// attached and its /etc/hosts written; wait joins the background work.
type pinnedSandbox struct {
	netDone  chan struct{}
	netErr   error // set before netDone is closed
	pauseErr error
	wg       sync.WaitGroup
}

// networkReady blocks until the pod's network is attached, and returns
// why it could not be.
func (sb *pinnedSandbox) networkReady(ctx context.Context) error {
	select {
	case <-sb.netDone:
		return sb.netErr
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// wait joins the sandbox's background work and returns what failed.
func (sb *pinnedSandbox) wait() error {
	sb.wg.Wait()
	return errors.Join(sb.netErr, sb.pauseErr)
}

// startPinnedSandbox pins the pod's namespaces (the netns unless the pod
// uses the host's network, IPC and UTS), writes the pod files the
// services' containers mount, and starts CNI ADD and the pause container
// in the background. A failure of either calls fail, which should cancel
// the launch. Each step adds its undo to rb. The caller must call wait
// before it returns, also when this returns an error after starting the
// background work (it then returns a sandbox).
func (e *Engine) startPinnedSandbox(ctx context.Context, rec *PodRecord, pauseImg client.Image, rb *rollback, fail func(error)) (*pinnedSandbox, error) {
	pod := rec.Plan.Name
	var req *netRequest
	rec.NetNSPath = ""
	if rec.NetworkMode != "host" {
		req = e.netRequest(rec)
		rec.NetNSPath = req.netnsPath()
	}
	rec.IPCNSPath, rec.UTSNSPath = e.nsPinPaths(pod)
	// Recorded before they exist: if compod dies now, `down` still
	// finds the pins and the attachment to undo.
	if err := e.writeRecord(rec); err != nil {
		return nil, err
	}
	rb.add("release namespace pins", func(context.Context) error { return releaseNSPins(rec) })
	if err := pinPodNamespaces(rec); err != nil {
		return nil, err
	}
	var netnsPath string
	if req != nil {
		rb.add("detach network", func(ctx context.Context) error { return e.detachNetwork(e.withNS(ctx), rec, req) })
		var err error
		if netnsPath, err = pinNetwork(req); err != nil {
			return nil, err
		}
	}
	// The services' containers bind-mount these; /etc/hosts is filled
	// once the network is attached.
	if err := e.preparePodFiles(rec); err != nil {
		return nil, fmt.Errorf("pod %q: %w", pod, err)
	}

	sb := &pinnedSandbox{netDone: make(chan struct{})}
	sb.wg.Add(2)
	go func() {
		defer sb.wg.Done()
		defer close(sb.netDone)
		sb.netErr = e.attachPinnedNetwork(ctx, rec, req, netnsPath)
		if sb.netErr != nil {
			fail(sb.netErr)
		}
	}()
	go func() {
		defer sb.wg.Done()
		sb.pauseErr = e.runPause(ctx, rec, pauseImg, rb)
		if sb.pauseErr != nil {
			fail(sb.pauseErr)
		}
	}()
	return sb, nil
}

// attachPinnedNetwork runs CNI ADD on the pod's pinned netns (none for a
// host network pod), records what it gave and writes /etc/hosts.
func (e *Engine) attachPinnedNetwork(ctx context.Context, rec *PodRecord, req *netRequest, netnsPath string) error {
	if req != nil {
		// ADD runs to its end once begun: its undo must not race it.
		cctx, cancel := createCtx(ctx)
		att, err := attachPinned(cctx, req, netnsPath)
		cancel()
		if err != nil {
			return err
		}
		recordAttachment(rec, att)
		if err := e.writeRecord(rec); err != nil {
			return err
		}
	}
	if err := e.writeHostsFile(rec); err != nil {
		return fmt.Errorf("pod %q: %w", rec.Plan.Name, err)
	}
	return nil
}

// runPause creates and starts the pause container in the pod's pinned
// namespaces.
func (e *Engine) runPause(ctx context.Context, rec *PodRecord, pauseImg client.Image, rb *rollback) error {
	cctx, cancel := createCtx(ctx)
	defer cancel()
	id := sandboxID(rec.Plan.Name)
	rb.add("remove sandbox container and snapshot", func(ctx context.Context) error { return e.removeObject(e.withNS(ctx), rec.Plan.Name, id) })
	ctr, err := e.client.NewContainer(cctx, id,
		client.WithImage(pauseImg),
		client.WithNewSnapshot(id, pauseImg),
		client.WithNewSpec(e.sandboxSpecOpts(rec, pauseImg)...),
		client.WithContainerLabels(e.instanceLabels(LabelPod, rec.Plan.Name, LabelRole, roleSandbox, labelComposeProject, rec.Plan.Name)),
	)
	if err != nil {
		return fmt.Errorf("creating sandbox container %s: %w", id, err)
	}
	// The pause program prints nothing: no log writer for it.
	task, err := ctr.NewTask(cctx, cio.NullIO)
	if err != nil {
		return fmt.Errorf("creating sandbox task %s: %w", id, err)
	}
	if err := task.Start(cctx); err != nil {
		return fmt.Errorf("starting sandbox task %s: %w", id, err)
	}
	return nil
}
