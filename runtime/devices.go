package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/compod/compod/translate"
)

// serviceDeviceOpts give a service its devices: each host device node is
// created at its target in the container, and the service's device
// cgroup allows it with the given permissions. The host is checked here,
// when the pod starts, so a missing device fails with the service, the
// field and the path.
func serviceDeviceOpts(svc *translate.ServiceSpec) ([]oci.SpecOpts, error) {
	var opts []oci.SpecOpts
	for i, d := range svc.Devices {
		field := fmt.Sprintf("devices[%d]", i)
		// A symlink (/dev/disk/by-id/...) names its target, as docker
		// follows it; the admission policy judged the resolved path.
		src, err := filepath.EvalSymlinks(d.Source)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("service %q: field %q: host device %s does not exist on this host: remove it from the service, or run the pod on a host that has it", svc.Name, field, d.Source)
		}
		if err != nil {
			return nil, fmt.Errorf("service %q: field %q: host device %s: %w", svc.Name, field, d.Source, err)
		}
		st, err := os.Stat(src)
		if err != nil {
			return nil, fmt.Errorf("service %q: field %q: host device %s: %w", svc.Name, field, d.Source, err)
		}
		switch {
		case st.IsDir() && d.Target != d.Source:
			return nil, fmt.Errorf("service %q: field %q: %s is a directory: its devices can only be given at the same paths (target %s)", svc.Name, field, d.Source, d.Source)
		case !st.IsDir() && st.Mode()&(fs.ModeDevice|fs.ModeCharDevice) == 0:
			return nil, fmt.Errorf("service %q: field %q: %s is not a device (nor a directory of devices)", svc.Name, field, d.Source)
		}
		opts = append(opts, withDevice(field, src, d))
	}
	return opts, nil
}

// withDevice is oci.WithDevices with an error that names the field.
func withDevice(field, hostPath string, d translate.DeviceSpec) oci.SpecOpts {
	target := d.Target
	if hostPath != d.Source && d.Target == d.Source {
		target = d.Source // a symlink's target at the path the user named
	}
	return func(ctx context.Context, c oci.Client, ctr *containers.Container, s *oci.Spec) error {
		if err := oci.WithDevices(hostPath, target, d.Permissions)(ctx, c, ctr, s); err != nil {
			return fmt.Errorf("field %q: device %s: %w", field, d.Source, err)
		}
		return nil
	}
}
