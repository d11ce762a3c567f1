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
	Pod       string        `json:"pod"`
	NetNSDir  string        `json:"netnsDir"`
	NetNSName string        `json:"netnsName"`
	CNIID     string        `json:"cniID"`
	CNI       cni.Config    `json:"cni"`
	Ports     []portRequest `json:"ports,omitempty"`
}

// portRequest is one published port and the service that publishes it,
// so that a port that is taken is reported against the right service.
type portRequest struct {
	Service string          `json:"service"`
	Mapping cni.PortMapping `json:"mapping"`
}

// netResult is what attaching gave the pod.
type netResult struct {
	NetNSPath string `json:"netnsPath"`
	IP        string `json:"ip"`
	Network   string `json:"network"`
}

func (r *netRequest) netnsPath() string { return filepath.Join(r.NetNSDir, r.NetNSName) }

func (r *netRequest) mappings() []cni.PortMapping {
	out := make([]cni.PortMapping, 0, len(r.Ports))
	for _, p := range r.Ports {
		out = append(out, p.Mapping)
	}
	return out
}

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
		req.CNI.BinDirs = append([]string(nil), rec.CNI.BinDirs...)
		for _, d := range orDefault(e.cniConfig.BinDirs, cni.DefaultBinDirs) {
			if !slices.Contains(req.CNI.BinDirs, d) {
				req.CNI.BinDirs = append(req.CNI.BinDirs, d)
			}
		}
	}
	if rec.NetNSPath != "" {
		req.NetNSDir, req.NetNSName = filepath.Dir(rec.NetNSPath), filepath.Base(rec.NetNSPath)
	}
	for _, p := range rec.Ports {
		req.Ports = append(req.Ports, portRequest{Service: p.Service, Mapping: cni.PortMapping{
			HostIP: p.HostIP, HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: p.Protocol}})
	}
	return req
}

func orDefault(dirs, def []string) []string {
	if len(dirs) == 0 {
		return def
	}
	return dirs
}

// loadNetwork loads the CNI network new pods are attached to and, when
// this process attaches them, checks its plugins, so that a missing
// plugin fails `up` before anything is pulled or made. (The host helper
// checks them where it runs, in the host's mount namespace.)
func (e *Engine) loadNetwork(ctx context.Context) (*cni.Network, error) {
	net, err := cni.New(e.cniConfig)
	if err != nil {
		return nil, fmt.Errorf("loading CNI network: %w", err)
	}
	if !e.hostHelper {
		if err := net.Validate(ctx); err != nil {
			return nil, err
		}
	}
	return net, nil
}

// detachNetwork undoes what attaching did, in this process or through the
// host helper; it is idempotent and also works on a half-made attachment.
func (e *Engine) detachNetwork(ctx context.Context, rec *PodRecord, req *netRequest) error {
	if e.hostHelper {
		return e.runHostDetach(ctx, rec, req)
	}
	net, err := cni.New(req.CNI)
	if err != nil {
		return fmt.Errorf("CNI teardown: loading the network pod %q was attached to: %w", req.Pod, err)
	}
	return detachNetwork(ctx, net, req)
}

func attachNetwork(ctx context.Context, net *cni.Network, req *netRequest) (*netResult, error) {
	// Ports first: CNI's portmap would silently shadow a port some host
	// process listens on, where docker fails.
	for _, p := range req.Ports {
		if err := cni.CheckHostPortsFree([]cni.PortMapping{p.Mapping}); err != nil {
			return nil, fmt.Errorf("service %q: field \"ports\": %w", p.Service, err)
		}
	}
	path, err := cni.PinNetNS(req.NetNSDir, req.NetNSName)
	if err != nil {
		return nil, fmt.Errorf("creating network namespace for pod %q: %w", req.Pod, err)
	}
	att, err := net.Setup(ctx, req.CNIID, path, req.mappings())
	if err != nil {
		return nil, errors.Join(
			fmt.Errorf("attaching pod %q to CNI network %s: %w", req.Pod, net.Name(), err),
			cni.ReleaseNetNS(path))
	}
	return &netResult{NetNSPath: path, IP: att.IP, Network: net.Name()}, nil
}

func detachNetwork(ctx context.Context, net *cni.Network, req *netRequest) error {
	path := req.netnsPath()
	var errs []error
	if err := net.Remove(ctx, req.CNIID, path, req.mappings()); err != nil {
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
