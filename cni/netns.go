package cni

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/compod/compod/internal/nspin"
)

// DefaultNetNSDir is where `ip netns` looks; pods pinned there show up in
// `ip netns list`.
const DefaultNetNSDir = "/run/netns"

// PinNetNS creates a new network namespace and pins it (bind mount) at
// dir/name, so it outlives every process in it until ReleaseNetNS.
//
// containerd's pkg/netns (NewNetNS, NewNetNSFromPID) only makes randomly
// named pins, and compod wants `ip netns` to show pods by name, so this is
// the same few lines with a chosen name (nspin.Pin: unshare a new netns on
// a locked OS thread, bind-mount that thread's /proc netns file onto the
// pin, switch the thread back; dir is made a shared mount point first, as
// `ip netns add` does for /run/netns).
func PinNetNS(dir, name string) (string, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return "", fmt.Errorf("invalid network namespace name %q", name)
	}
	paths, err := nspin.Pin(dir, []nspin.Namespace{{Flag: unix.CLONE_NEWNET, Name: name}}, nil)
	if errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("network namespace %s/%s already exists (the pod is running, or a stale pin is left: release it, e.g. `ip netns delete %s`)", dir, name, name)
	}
	if err != nil {
		return "", fmt.Errorf("creating network namespace %s/%s: %w", dir, name, err)
	}
	return paths[0], nil
}

// ReleaseNetNS unpins a netns made by PinNetNS (nspin.Release): every copy
// of the pin stacked on path is unmounted and the file removed. A missing
// path, or a leftover file that no longer has a netns mounted, is fine.
func ReleaseNetNS(path string) error { return nspin.Release(path) }
