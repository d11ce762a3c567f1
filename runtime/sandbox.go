package runtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
)

// createSandbox pins the pod's netns, attaches it with CNI to the
// networks rec.Networks names and starts the pause container in it. It returns
// the pause task's pid. Each step adds its undo to rb.
func (e *Engine) createSandbox(ctx context.Context, rec *PodRecord, pauseImg client.Image, rb *rollback) (uint32, error) {
	if rec.NetworkMode == "host" {
		return e.createHostNetworkSandbox(ctx, rec, pauseImg, rb)
	}
	pod := rec.Plan.Name
	req := e.netRequest(rec)
	// Record the netns before it exists: if compod dies while the network
	// is set up, `down` must still be able to run CNI DEL against it.
	rec.NetNSPath = req.netnsPath()
	if err := e.writeRecord(rec); err != nil {
		return 0, err
	}
	// The rollback's context is its own: the host helper's throwaway
	// container needs the namespace named again.
	rb.add("detach network", func(ctx context.Context) error { return e.detachNetwork(e.withNS(ctx), rec, req) })

	// CNI ADD and the pause container's creation overlap: the netns is
	// pinned first, then ADD sets it up while containerd creates the pause
	// container and its task (runc create) joins the pinned netns; the
	// pause task starts once both are done. Through the host helper, the
	// helper does the network work while the shim creates the pause
	// container. A pod with network sysctls keeps the old order: runc
	// applies them at create, and a per-interface one needs the interface
	// that ADD makes.
	var (
		att  *netResult
		io   cio.Creator
		call *hostHelperCall
		err  error
	)
	// Creation calls run to their end once begun (createCtx).
	cctx, cancel := createCtx(ctx)
	defer cancel()
	var netC chan netOutcome
	switch {
	case e.hostHelper:
		if call, err = e.newHostHelperCall(pod, hostOpAttach, req); err != nil {
			return 0, err
		}
		io = e.hostHelperIO(call)
	case len(rec.Plan.PodSysctls()) > 0:
		if att, err = attachNetwork(cctx, req); err != nil {
			return 0, err
		}
		// The pause program prints nothing: no log writer for it.
		io = cio.NullIO
	default:
		path, err := pinNetwork(req)
		if err != nil {
			return 0, err
		}
		netC = make(chan netOutcome, 1)
		go func() {
			att, err := attachPinned(cctx, req, path)
			netC <- netOutcome{att, err}
		}()
		io = cio.NullIO
	}
	// awaitNetwork joins the overlapping ADD (every return below that
	// follows its start goes through it: the rollback's DEL must not run
	// while ADD still does).
	awaitNetwork := func(err error) error {
		if netC == nil {
			return err
		}
		out := <-netC
		netC = nil
		att = out.att
		if out.err != nil {
			return errors.Join(out.err, err)
		}
		return err
	}

	id := sandboxID(pod)
	specOpts := e.sandboxSpecOpts(rec, pauseImg)
	rb.add("remove sandbox container and snapshot", func(ctx context.Context) error { return e.removeObject(e.withNS(ctx), pod, id) })
	ctr, err := e.client.NewContainer(cctx, id,
		client.WithImage(pauseImg),
		client.WithNewSnapshot(id, pauseImg),
		client.WithNewSpec(specOpts...),
		client.WithContainerLabels(e.instanceLabels(LabelPod, pod, LabelRole, roleSandbox, labelComposeProject, pod)),
	)
	if err != nil {
		return 0, awaitNetwork(fmt.Errorf("creating sandbox container %s: %w", id, err))
	}
	task, err := e.newTask(cctx, ctr, io)
	if call != nil {
		att, err = call.reply(pod, err)
	}
	if err != nil {
		return 0, awaitNetwork(fmt.Errorf("creating sandbox task %s: %w", id, err))
	}
	if err := awaitNetwork(nil); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, context.Cause(ctx)
	}
	rec.IP, rec.Network = att.IP, att.Network
	for i := range rec.Networks {
		if i < len(att.Attachments) {
			a := att.Attachments[i]
			rec.Networks[i].IP, rec.Networks[i].IPs, rec.Networks[i].MAC, rec.Networks[i].Interface = a.IP, a.IPs, a.MAC, a.Interface
			rec.Networks[i].Gateway = a.Gateway
		}
	}
	if err := e.writeRecord(rec); err != nil {
		return 0, err
	}
	if err := e.writePodFiles(rec); err != nil {
		return 0, fmt.Errorf("pod %q: %w", pod, err)
	}
	if err := task.Start(cctx); err != nil {
		return 0, fmt.Errorf("starting sandbox task %s: %w", id, err)
	}
	return task.Pid(), nil
}

// netOutcome is what an overlapping CNI ADD gave.
type netOutcome struct {
	att *netResult
	err error
}

// createHostNetworkSandbox starts the pause container of a network_mode
// host pod: in the host's network namespace, so there is no netns to pin,
// no CNI attachment and no host helper call (which exists to do network
// work in the host's namespaces). The pause container still owns the
// pod's IPC and UTS namespaces.
func (e *Engine) createHostNetworkSandbox(ctx context.Context, rec *PodRecord, pauseImg client.Image, rb *rollback) (uint32, error) {
	pod := rec.Plan.Name
	rec.NetNSPath = ""
	if err := e.writeRecord(rec); err != nil {
		return 0, err
	}
	cctx, cancel := createCtx(ctx)
	defer cancel()
	id := sandboxID(pod)
	rb.add("remove sandbox container and snapshot", func(ctx context.Context) error { return e.removeObject(e.withNS(ctx), pod, id) })
	ctr, err := e.client.NewContainer(cctx, id,
		client.WithImage(pauseImg),
		client.WithNewSnapshot(id, pauseImg),
		client.WithNewSpec(e.sandboxSpecOpts(rec, pauseImg)...),
		client.WithContainerLabels(e.instanceLabels(LabelPod, pod, LabelRole, roleSandbox, labelComposeProject, pod)),
	)
	if err != nil {
		return 0, fmt.Errorf("creating sandbox container %s: %w", id, err)
	}
	task, err := e.newTask(cctx, ctr, cio.NullIO)
	if err != nil {
		return 0, fmt.Errorf("creating sandbox task %s: %w", id, err)
	}
	if err := e.writePodFiles(rec); err != nil {
		return 0, fmt.Errorf("pod %q: %w", pod, err)
	}
	if err := task.Start(cctx); err != nil {
		return 0, fmt.Errorf("starting sandbox task %s: %w", id, err)
	}
	return task.Pid(), nil
}
