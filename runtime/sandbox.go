package runtime

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/compod/compod/cni"
	"github.com/compod/compod/translate"
)

// pauseStopTimeout is how long the pause process gets to exit on SIGTERM;
// it does nothing but reap, so it needs almost none.
const pauseStopTimeout = 2 * time.Second

// netnsName is the pinned netns of a pod, as `ip netns` shows it.
func netnsName(pod string) string { return "compod-" + pod }

// cniID identifies the pod's CNI attachment (IPAM reservation, iptables
// comments); it includes the containerd namespace so two namespaces can run
// pods of the same name.
func (e *Engine) cniID(pod string) string { return e.namespace + "-" + pod }

func cniPorts(ports []translate.PortMapping) []cni.PortMapping {
	out := make([]cni.PortMapping, 0, len(ports))
	for _, p := range ports {
		out = append(out, cni.PortMapping{HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: p.Protocol})
	}
	return out
}

// createSandbox pins the pod's netns, attaches it with CNI and starts the
// pause container in it. It returns the pause task's pid. Each step adds its
// undo to rb.
func (e *Engine) createSandbox(ctx context.Context, rec *PodRecord, pauseImg client.Image, rb *rollback) (uint32, error) {
	pod := rec.Plan.Name
	path, err := cni.PinNetNS(e.netnsDir, netnsName(pod))
	if err != nil {
		return 0, fmt.Errorf("creating network namespace for pod %q: %w", pod, err)
	}
	rb.add("release netns", func(context.Context) error { return cni.ReleaseNetNS(path) })
	rec.NetNSPath = path
	// Record the netns before CNI ADD: if compod dies during ADD, `down`
	// must still be able to run CNI DEL against it.
	if err := e.writeRecord(rec); err != nil {
		return 0, err
	}

	ports := cniPorts(rec.Ports)
	rb.add("CNI teardown", func(ctx context.Context) error { return e.network.Remove(ctx, e.cniID(pod), path, ports) })
	att, err := e.network.Setup(ctx, e.cniID(pod), path, ports)
	if err != nil {
		return 0, fmt.Errorf("attaching pod %q to CNI network %s: %w", pod, e.network.Name(), err)
	}
	rec.IP, rec.Network = att.IP, e.network.Name()
	if err := e.writeRecord(rec); err != nil {
		return 0, err
	}
	if err := e.writePodFiles(rec); err != nil {
		return 0, fmt.Errorf("pod %q: %w", pod, err)
	}

	id := sandboxID(pod)
	specOpts := e.sandboxSpecOpts(rec, pauseImg)
	ctr, err := e.client.NewContainer(ctx, id,
		client.WithImage(pauseImg),
		client.WithNewSnapshot(id, pauseImg),
		client.WithNewSpec(specOpts...),
		client.WithContainerLabels(map[string]string{LabelPod: pod, LabelRole: roleSandbox, labelComposeProject: pod}),
	)
	if err != nil {
		return 0, fmt.Errorf("creating sandbox container %s: %w", id, err)
	}
	rb.add("delete sandbox container", func(ctx context.Context) error { return deleteContainer(e.withNS(ctx), ctr) })
	task, err := ctr.NewTask(ctx, e.taskIO(pod, "pause", false))
	if err != nil {
		return 0, fmt.Errorf("creating sandbox task %s: %w", id, err)
	}
	if err := task.Start(ctx); err != nil {
		return 0, fmt.Errorf("starting sandbox task %s: %w", id, err)
	}
	return task.Pid(), nil
}

// removeSandbox stops the pause container and releases the network. It is
// safe to call on a half-made or already removed sandbox.
func (e *Engine) removeSandbox(ctx context.Context, rec *PodRecord) error {
	var errs []error
	ctr, err := e.client.LoadContainer(ctx, sandboxID(rec.Plan.Name))
	switch {
	case err == nil:
		if _, err := stopTask(ctx, ctr, syscall.SIGTERM, pauseStopTimeout); err != nil {
			errs = append(errs, err)
		}
		if err := deleteContainer(ctx, ctr); err != nil {
			errs = append(errs, err)
		}
	case !errdefs.IsNotFound(err):
		errs = append(errs, fmt.Errorf("loading sandbox container: %w", err))
	}
	if rec.NetNSPath != "" {
		if err := e.network.Remove(ctx, e.cniID(rec.Plan.Name), rec.NetNSPath, cniPorts(rec.Ports)); err != nil {
			errs = append(errs, fmt.Errorf("CNI teardown: %w", err))
		}
		if err := cni.ReleaseNetNS(rec.NetNSPath); err != nil {
			errs = append(errs, fmt.Errorf("releasing netns: %w", err))
		}
	}
	return joinErrs(errs)
}
