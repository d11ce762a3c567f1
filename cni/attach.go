package cni

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/compod/compod/internal/nspin"
)

// A pod is attached to any number of networks in its one netns: one
// interface per network, the loopback once. Attach and Detach run them in
// order; each attachment is identified in libcni's result cache by the
// network's name, the pod's CNI id and the interface name, so DEL of one
// network finds its own cached result.

// Options are the per-pod arguments of one attachment, passed to the
// plugins as CNI capability arguments (ports, ips, mac, bandwidth: only
// to plugins that declare the capability), CNI_ARGS (Args) and the
// "args" of the plugins' configs (ConfigArgs).
type Options struct {
	Ports     []PortMapping     `json:"ports,omitempty"`
	IPs       []string          `json:"ips,omitempty"` // static addresses, CIDR (10.1.2.3/24) or plain
	MAC       string            `json:"mac,omitempty"`
	Bandwidth *Bandwidth        `json:"bandwidth,omitempty"`
	Args      map[string]string `json:"args,omitempty"`
	// ConfigArgs go into the "args" member of every plugin's network
	// config (configargs.go): how Mesos passes a task's NetworkInfo.
	ConfigArgs map[string]any `json:"configArgs,omitempty"`
}

// NetworkRequest is one network a pod goes on: the network (Config, as
// Resolve gives it, with IfName the pod's interface) and the options.
type NetworkRequest struct {
	Name    string  `json:"name"`
	Config  Config  `json:"config"`
	Options Options `json:"options"`
}

// Attach runs CNI ADD for the pod on every network of reqs, in order,
// after bringing up lo (base gives the bin dirs and state dir of the
// loopback; with no reqs, lo is all the pod gets). If one fails, what
// was done is undone before the error returns.
func Attach(ctx context.Context, base Config, podID, netnsPath string, reqs []NetworkRequest) ([]Attachment, error) {
	if podID == "" || netnsPath == "" {
		return nil, errors.New("cni: Attach needs a pod id and a netns path")
	}
	lo, nets, err := load(base, reqs)
	if err != nil {
		return nil, err
	}
	for _, n := range append(slices.Clone(nets), lo) {
		if err := n.Validate(ctx); err != nil {
			return nil, err
		}
	}
	undo := func(err error) error {
		if derr := detach(context.WithoutCancel(ctx), lo, nets, podID, netnsPath, reqs); derr != nil {
			return fmt.Errorf("%w (and undoing it: %v)", err, derr)
		}
		return err
	}
	if err := lo.addLoopback(ctx, podID, netnsPath); err != nil {
		return nil, undo(err)
	}
	atts := make([]Attachment, 0, len(nets))
	for i, n := range nets {
		att, err := n.add(ctx, podID, netnsPath, &reqs[i].Options)
		if err != nil {
			return nil, undo(err)
		}
		atts = append(atts, *att)
	}
	return atts, nil
}

// Detach runs CNI DEL for the pod on every network of reqs, in reverse
// order, then for lo. Like Network.Remove it is idempotent, works without
// the netns, and does nothing when a plugin is missing (the error wraps
// ErrPluginNotFound), so that a later Detach runs a whole DEL.
func Detach(ctx context.Context, base Config, podID, netnsPath string, reqs []NetworkRequest) error {
	if podID == "" {
		return errors.New("cni: Detach needs a pod id")
	}
	lo, nets, err := load(base, reqs)
	if err != nil {
		return err
	}
	for _, n := range append(slices.Clone(nets), lo) {
		if err := n.findPlugins("to remove pod " + podID + " from"); err != nil {
			return err
		}
	}
	return detach(ctx, lo, nets, podID, netnsPath, reqs)
}

func detach(ctx context.Context, lo *Network, nets []*Network, podID, netnsPath string, reqs []NetworkRequest) error {
	if netnsPath != "" && !nspin.IsPinned(netnsPath) {
		netnsPath = ""
	}
	var errs []error
	for i := len(nets) - 1; i >= 0; i-- {
		errs = append(errs, nets[i].del(ctx, podID, netnsPath, &reqs[i].Options))
	}
	errs = append(errs, lo.delLoopback(ctx, podID, netnsPath))
	return errors.Join(errs...)
}

// load loads the loopback (from base) and every requested network.
func load(base Config, reqs []NetworkRequest) (*Network, []*Network, error) {
	if base.StateDir == "" {
		return nil, nil, errors.New("cni: Config.StateDir is required")
	}
	stateDir, err := filepath.Abs(base.StateDir)
	if err != nil {
		return nil, nil, err
	}
	binDirs := base.BinDirs
	if len(binDirs) == 0 {
		binDirs = DefaultBinDirs
	}
	lo := newNetwork(stateDir, binDirs, "lo")
	nets := make([]*Network, 0, len(reqs))
	ifNames := map[string]string{}
	for _, r := range reqs {
		n, err := New(r.Config)
		if err != nil {
			return nil, nil, fmt.Errorf("network %q: %w", r.Name, err)
		}
		if prev, dup := ifNames[n.ifName]; dup {
			return nil, nil, fmt.Errorf("networks %q and %q both ask for interface %s", prev, r.Name, n.ifName)
		}
		ifNames[n.ifName] = r.Name
		nets = append(nets, n)
	}
	return lo, nets, nil
}

// Validate checks that the plugins of every network of reqs (and of the
// loopback) are there and speak their configs' cniVersion.
func Validate(ctx context.Context, base Config, reqs []NetworkRequest) error {
	lo, nets, err := load(base, reqs)
	if err != nil {
		return err
	}
	for _, n := range append(slices.Clone(nets), lo) {
		if err := n.Validate(ctx); err != nil {
			return err
		}
	}
	return nil
}
