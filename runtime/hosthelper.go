package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"golang.org/x/sys/unix"

	"github.com/compod/compod/cgroups"
)

// The host helper: when compod does not share containerd's mount and
// network namespaces (see SharesContainerdNamespaces), the host side of a
// pod's network is done by compod's own binary started by the containerd
// shim, which lives where runc lives. The shim starts a task's "binary"
// log driver (as it starts compod's shim-logger for services) before it
// runs `runc create`, and waits until the driver says it is ready: the
// helper is compod started that way (`compod host-network REQUEST`), with
// the host's mount, PID and network namespaces and the shim's privileges.
// It does its operation, writes the reply and only then says it is ready,
// so:
//
//   - attach runs as the pause container's log driver: the netns is pinned
//     and attached before runc creates the pause container in it;
//   - detach runs as the log driver of a throwaway container of the pause
//     image that is created (never started) and deleted again.
//
// A container without namespaces of its own cannot do this: runc prepares
// a rootfs even without a mount namespace, and would do so in the host's.
//
// The request and the reply are files in the pod's state directory, which
// both sides see: it is a plain directory, not a mount.

const (
	hostOpAttach = "attach"
	hostOpDetach = "detach"
	// hostOpRemoveCgroups removes an empty cgroup tree in every hierarchy
	// the host has: an executor's mount namespace may lack some (a Mesos
	// agent that hides the cgroup2 mount of a hybrid host) in which runc,
	// in the host's, still made the pods' cgroups.
	hostOpRemoveCgroups = "remove-cgroups"

	// HostNetworkCommand is the argv[1] the shim starts the helper with.
	HostNetworkCommand = "host-network"

	roleHostHelper = "host-helper"
)

// hostHelperRequest is the file the helper is handed.
type hostHelperRequest struct {
	Op     string     `json:"op"`
	Reply  string     `json:"reply"`
	Net    netRequest `json:"net"`
	Cgroup string     `json:"cgroup,omitempty"`
}

// hostHelperReply is what the helper writes as its result.
type hostHelperReply struct {
	Result *netResult `json:"result,omitempty"`
	Error  string     `json:"error,omitempty"`
}

func hostHelperID(pod string) string { return pod + "_host-network" }

// hostHelperCall is one operation handed to the helper: its files.
type hostHelperCall struct {
	op, reqFile, replyFile string
}

// newHostHelperCall writes the request of op for the pod.
func (e *Engine) newHostHelperCall(pod, op string, req *netRequest) (*hostHelperCall, error) {
	return e.writeHostHelperCall(e.podDir(pod), pod, hostHelperRequest{Op: op, Net: *req})
}

// writeHostHelperCall writes a request into dir (pod names the pod, or
// what the call is about, in errors).
func (e *Engine) writeHostHelperCall(dir, pod string, r hostHelperRequest) (*hostHelperCall, error) {
	op := r.Op
	c := &hostHelperCall{op: op,
		reqFile:   filepath.Join(dir, "host-network-"+op+".json"),
		replyFile: filepath.Join(dir, "host-network-"+op+".reply.json")}
	r.Reply = c.replyFile
	data, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if err := mkdirMode(dir, modePodDir); err != nil {
		return nil, fmt.Errorf("host network helper of pod %q: %w", pod, err)
	}
	_ = os.Remove(c.replyFile)
	if err := os.WriteFile(c.reqFile, data, 0o600); err != nil {
		return nil, fmt.Errorf("host network helper of pod %q: writing request: %w", pod, err)
	}
	return c, nil
}

// io is the task IO that makes the shim run the helper.
func (e *Engine) hostHelperIO(c *hostHelperCall) cio.Creator {
	return cio.BinaryIO(e.selfBinary, map[string]string{HostNetworkCommand: c.reqFile})
}

// reply reads what the helper did; taskErr is the error of the task
// creation that ran it, which the helper's own error explains better.
func (c *hostHelperCall) reply(pod string, taskErr error) (*netResult, error) {
	defer os.Remove(c.reqFile)
	defer os.Remove(c.replyFile)
	var r hostHelperReply
	b, err := os.ReadFile(c.replyFile)
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	switch {
	case r.Error != "":
		return nil, errors.New(r.Error)
	case taskErr != nil:
		return nil, fmt.Errorf("host network %s of pod %q: %w", c.op, pod, taskErr)
	case err != nil:
		return nil, fmt.Errorf("host network helper of pod %q gave no reply: %w", pod, err)
	case c.op == hostOpAttach && r.Result == nil:
		return nil, fmt.Errorf("host network helper of pod %q gave no attachment", pod)
	}
	return r.Result, nil
}

// runHostDetach runs detach as the log driver of a throwaway container.
func (e *Engine) runHostDetach(ctx context.Context, rec *PodRecord, req *netRequest) error {
	pod := rec.Plan.Name
	call, err := e.newHostHelperCall(pod, hostOpDetach, req)
	if err != nil {
		return err
	}
	return e.runThrowawayHelper(ctx, pod, hostHelperID(pod), cgroups.ContainerPath(rec.Cgroup, "host-network"), call)
}

// RemoveCgroupTree removes the cgroup at path and the empty cgroups below
// it (cgroups.RemoveEmptyTree) in every hierarchy: those this process sees
// and, through the host helper when compod does not share containerd's
// mount namespace, those of the host, where runc made them.
func (e *Engine) RemoveCgroupTree(ctx context.Context, path string) error {
	err := cgroups.RemoveEmptyTree(path)
	if !e.hostHelper || path == "" || path == "/" {
		return err
	}
	ctx = e.withNS(ctx)
	// containerd ids are short (76 characters); cgroup paths are not.
	sum := sha256.Sum256([]byte(path))
	name := "cgroups-" + hex.EncodeToString(sum[:8])
	call, cerr := e.writeHostHelperCall(filepath.Join(e.stateDir, "host-helper", name), name,
		hostHelperRequest{Op: hostOpRemoveCgroups, Cgroup: path})
	if cerr != nil {
		return errors.Join(err, cerr)
	}
	defer os.Remove(filepath.Dir(filepath.Dir(call.reqFile))) // if no other call uses it
	defer os.Remove(filepath.Dir(call.reqFile))
	// Its own cgroup is containerd's default, outside the tree it removes.
	return errors.Join(err, e.runThrowawayHelper(ctx, name, "compod-"+name, "", call))
}

// runThrowawayHelper runs a helper call as the log driver of a container
// of the pause image that is created, never started, and deleted again.
// cgroup "" leaves the container in containerd's default cgroup.
func (e *Engine) runThrowawayHelper(ctx context.Context, pod, id, cgroup string, call *hostHelperCall) error {
	img, err := e.ensureSandboxImage(ctx, nil)
	if err != nil {
		os.Remove(call.reqFile)
		return fmt.Errorf("host helper for %q: %w", pod, err)
	}
	// A helper left by a compod that died while it ran is in the way.
	if err := e.removeHelper(ctx, pod, id); err != nil {
		os.Remove(call.reqFile)
		return fmt.Errorf("host helper for %q: removing a stale one: %w", pod, err)
	}
	specOpts := []oci.SpecOpts{oci.WithImageConfig(img)}
	if cgroup != "" {
		specOpts = append(specOpts, oci.WithCgroup(cgroup))
	}
	labels := e.instanceLabels(LabelRole, roleHostHelper)
	if id == hostHelperID(pod) {
		labels[LabelPod] = pod
	}
	ctr, err := e.client.NewContainer(ctx, id,
		client.WithImage(img),
		client.WithNewSnapshot(id, img),
		client.WithNewSpec(specOpts...),
		client.WithContainerLabels(labels),
	)
	// The helper goes again however creating it ended (its snapshot is
	// made before the container).
	defer func() {
		if err := e.removeHelper(context.WithoutCancel(ctx), pod, id); err != nil {
			e.log.Warn("removing the host helper", "for", pod, "err", err)
		}
	}()
	if err != nil {
		os.Remove(call.reqFile)
		return fmt.Errorf("host helper for %q: creating container: %w", pod, err)
	}
	_, taskErr := ctr.NewTask(ctx, e.hostHelperIO(call))
	_, err = call.reply(pod, taskErr)
	return err
}

// removeHelper removes a helper container and its snapshot: a pod's
// through removeObject (which checks it is the pod's), one of no pod
// (RemoveCgroupTree's) by its id alone.
func (e *Engine) removeHelper(ctx context.Context, pod, id string) error {
	if id == hostHelperID(pod) {
		return e.removeObject(ctx, pod, id)
	}
	if ctr, err := e.client.LoadContainer(ctx, id); err == nil {
		if err := deleteContainer(ctx, ctr); err != nil {
			return err
		}
	}
	return e.removeSnapshot(ctx, id)
}

// RunHostNetwork is the helper's side (`compod host-network REQUEST`, run
// by the shim as a log driver: fd 5 tells the shim it is ready). A failed
// operation is reported in the reply; the returned error is for a helper
// that could not reply at all.
func RunHostNetwork(ctx context.Context, reqFile string) error {
	ready := os.NewFile(5, "ready")
	if ready == nil {
		return errors.New("host-network is run by the containerd shim, not by hand")
	}
	defer ready.Close()
	// The shim's environment may have no sbin dirs; CNI plugins need
	// iptables and ip.
	os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:"+os.Getenv("PATH"))
	b, err := os.ReadFile(reqFile)
	if err != nil {
		return err
	}
	var req hostHelperRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return fmt.Errorf("reading %s: %w", reqFile, err)
	}
	var reply hostHelperReply
	if err := doHostOp(ctx, &req, &reply); err != nil {
		reply.Error = err.Error()
	}
	out, err := json.Marshal(reply)
	if err != nil {
		return err
	}
	return os.WriteFile(req.Reply, out, 0o600)
}

func doHostNetwork(ctx context.Context, req *hostHelperRequest, reply *hostHelperReply) error {
	switch req.Op {
	case hostOpAttach:
		res, err := attachNetwork(ctx, &req.Net)
		reply.Result = res
		return err
	case hostOpDetach:
		return detachNetwork(ctx, &req.Net)
	}
	return fmt.Errorf("host network helper: unknown operation %q", req.Op)
}

func doHostOp(ctx context.Context, req *hostHelperRequest, reply *hostHelperReply) error {
	if req.Op == hostOpRemoveCgroups {
		return cgroups.RemoveEmptyTree(req.Cgroup)
	}
	return doHostNetwork(ctx, req, reply)
}

// peerPID is the pid, in this process's PID namespace, of the process
// listening on a unix socket (0 when it is not visible from here).
func peerPID(socket string) (int32, error) {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: strings.TrimPrefix(socket, "unix://"), Net: "unix"})
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, credErr
	}
	return cred.Pid, nil
}
