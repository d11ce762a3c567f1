package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/compod/compod/cni"
)

// The host side of a pod's network — the netns pin that runc joins, the
// CNI attachment (veth, bridge, IPAM, iptables) and the host-port check —
// has to be made in the namespaces containerd and runc live in: a netns
// pinned in a private mount namespace is invisible to runc, and iptables
// rules or port checks made in a private network namespace publish
// nothing. When compod shares containerd's mount and network namespaces
// (the CLI on a host, an executor under cgroups-only isolation) it does
// this work itself; when it does not (an executor under the agent's
// filesystem/linux, namespaces/pid or network/cni isolators) the host
// helper does it for it: see hosthelper.go.

// netRequest is everything the host side of a pod's network needs; it is
// what the host helper is handed.
type netRequest struct {
	Pod       string `json:"pod"`
	NetNSDir  string `json:"netnsDir"`
	NetNSName string `json:"netnsName"`
	CNIID     string `json:"cniID"`
	// CNI is the base configuration (bin dirs, state dir: the loopback
	// and the result cache); Networks the networks, in interface order.
	CNI      cni.Config           `json:"cni"`
	Networks []cni.NetworkRequest `json:"networks,omitempty"`
	Ports    []portRequest        `json:"ports,omitempty"`
}

// portRequest is one published port and the service that publishes it,
// so that a port that is taken is reported against the right service.
type portRequest struct {
	Service string          `json:"service"`
	Mapping cni.PortMapping `json:"mapping"`
}

// netResult is what attaching gave the pod.
type netResult struct {
	NetNSPath   string           `json:"netnsPath"`
	IP          string           `json:"ip"`
	Network     string           `json:"network"`
	Attachments []cni.Attachment `json:"attachments,omitempty"`
}

func (r *netRequest) netnsPath() string { return filepath.Join(r.NetNSDir, r.NetNSName) }

func (e *Engine) netRequest(rec *PodRecord) *netRequest {
	req := &netRequest{
		Pod:       rec.Plan.Name,
		NetNSDir:  e.netnsDir,
		NetNSName: e.recNetNSName(rec),
		CNIID:     e.recCNIID(rec),
		CNI:       e.cniConfig,
	}
	if rec.CNI != nil {
		// The network the pod was attached to. Its plugins are looked
		// for where they were then, and where this compod looks: an
		// operator who moved them has told compod the new place.
		req.CNI = *rec.CNI
		req.CNI.BinDirs = e.binDirsFor(rec.CNI.BinDirs)
	}
	if rec.NetNSPath != "" {
		req.NetNSDir, req.NetNSName = filepath.Dir(rec.NetNSPath), filepath.Base(rec.NetNSPath)
	}
	for _, p := range rec.Ports {
		req.Ports = append(req.Ports, portRequest{Service: p.Service, Mapping: cni.PortMapping{
			HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: p.Protocol}})
	}
	switch {
	case len(rec.Networks) > 0:
		for _, a := range rec.Networks {
			r := a.Request
			r.Config.BinDirs = e.binDirsFor(r.Config.BinDirs)
			req.Networks = append(req.Networks, r)
		}
	case rec.NetworkMode == "none", rec.NetworkMode == "host":
	default:
		// A record from before several networks: its one network, with
		// every port.
		r := cni.NetworkRequest{Name: rec.Network, Config: req.CNI}
		for _, p := range req.Ports {
			r.Options.Ports = append(r.Options.Ports, p.Mapping)
		}
		req.Networks = []cni.NetworkRequest{r}
	}
	return req
}

// binDirsFor: a pod's plugins are looked for where they were when it was
// attached, and where this compod looks: an operator who moved them has
// told compod the new place.
func (e *Engine) binDirsFor(dirs []string) []string {
	out := append([]string(nil), dirs...)
	for _, d := range orDefault(e.cniConfig.BinDirs, cni.DefaultBinDirs) {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

func orDefault(dirs, def []string) []string {
	if len(dirs) == 0 {
		return def
	}
	return dirs
}

// validateNetworks checks, when this process attaches pods, that the
// plugins of the pod's networks are there, so that a missing plugin fails
// `up` before anything is pulled or made. (The host helper checks them
// where it runs, in the host's mount namespace.)
func (e *Engine) validateNetworks(ctx context.Context, rec *PodRecord) error {
	if e.hostHelper {
		return nil
	}
	req := e.netRequest(rec)
	return cni.Validate(ctx, req.CNI, req.Networks)
}

// detachNetwork undoes what attaching did, in this process or through the
// host helper; it is idempotent and also works on a half-made attachment.
func (e *Engine) detachNetwork(ctx context.Context, rec *PodRecord, req *netRequest) error {
	if e.hostHelper {
		return e.runHostDetach(ctx, rec, req)
	}
	return detachNetwork(ctx, req)
}

func attachNetwork(ctx context.Context, req *netRequest) (*netResult, error) {
	path, err := pinNetwork(req)
	if err != nil {
		return nil, err
	}
	return attachPinned(ctx, req, path)
}

// pinNetwork checks the host ports and pins the pod's netns: after it, a
// container can join the netns while attachPinned sets it up.
func pinNetwork(req *netRequest) (string, error) {
	// Ports first: CNI's portmap would silently shadow a port some host
	// process listens on, where docker fails.
	for _, p := range req.Ports {
		if err := cni.CheckHostPortsFree([]cni.PortMapping{p.Mapping}); err != nil {
			return "", fmt.Errorf("service %q: field \"ports\": %w", p.Service, err)
		}
	}
	path, err := cni.PinNetNS(req.NetNSDir, req.NetNSName)
	if err != nil {
		return "", fmt.Errorf("creating network namespace for pod %q: %w", req.Pod, err)
	}
	return path, nil
}

// attachPinned runs CNI ADD on the pinned netns at path; on failure the
// pin is released.
func attachPinned(ctx context.Context, req *netRequest, path string) (*netResult, error) {
	atts, err := cni.Attach(ctx, req.CNI, req.CNIID, path, req.Networks)
	if err != nil {
		return nil, errors.Join(
			fmt.Errorf("attaching pod %q to its CNI networks: %w", req.Pod, err),
			cni.ReleaseNetNS(path))
	}
	res := &netResult{NetNSPath: path, Attachments: atts}
	if len(atts) > 0 {
		res.IP, res.Network = atts[0].IP, atts[0].Network
	}
	return res, nil
}

func detachNetwork(ctx context.Context, req *netRequest) error {
	path := req.netnsPath()
	var errs []error
	if err := cni.Detach(ctx, req.CNI, req.CNIID, path, req.Networks); err != nil {
		if errors.Is(err, cni.ErrPluginNotFound) {
			// Nothing was torn down: the netns stays pinned too, so
			// that the next try runs a whole DEL.
			return fmt.Errorf("CNI teardown: %w", err)
		}
		errs = append(errs, fmt.Errorf("CNI teardown: %w", err))
	}
	if err := cni.ReleaseNetNS(path); err != nil {
		errs = append(errs, fmt.Errorf("releasing netns: %w", err))
	}
	return errors.Join(errs...)
}

// SharesContainerdNamespaces reports whether this process lives in the
// mount and network namespaces of the containerd listening on socket, so
// that what it pins and sets up is what runc and the host see. It asks the
// kernel who is on the other end of the socket (SO_PEERCRED): a pid of 0
// means containerd is outside this process's PID namespace.
func SharesContainerdNamespaces(socket string) (bool, error) {
	pid, err := peerPID(socket)
	if err != nil {
		return false, fmt.Errorf("finding containerd's process through %s: %w", socket, err)
	}
	if pid == 0 {
		return false, nil
	}
	for _, ns := range []string{"mnt", "net"} {
		own, err := os.Readlink("/proc/self/ns/" + ns)
		if err != nil {
			return false, err
		}
		theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		if err != nil {
			return false, fmt.Errorf("reading containerd's %s namespace: %w", ns, err)
		}
		if own != theirs {
			return false, nil
		}
	}
	return true, nil
}
