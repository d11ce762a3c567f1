package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"tags.cncf.io/container-device-interface/pkg/cdi"

	"github.com/compod/compod/translate"
)

// CDI devices (translate/cdi.go) are resolved when the service's spec is
// made, against the host's CDI specs: the vendor's spec file says which
// device nodes, mounts, hooks and environment a name gives.

// defaultCDISpecDirs are CDI's own defaults.
var defaultCDISpecDirs = []string{"/etc/cdi", "/var/run/cdi"}

// cdiSpecDirs are COMPOD_CDI_SPEC_DIRS (colon-separated) or CDI's defaults.
func cdiSpecDirs() []string {
	if v := os.Getenv("COMPOD_CDI_SPEC_DIRS"); v != "" {
		return filepath.SplitList(v)
	}
	return defaultCDISpecDirs
}

// withCDIDevices injects the service's CDI devices into its spec; a name
// no spec of the host defines fails, naming it and the spec dirs.
func withCDIDevices(svc *translate.ServiceSpec) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		dirs := cdiSpecDirs()
		fail := func(err error) error {
			return fmt.Errorf("service %q: field \"devices\": CDI device(s) %s: %w (CDI spec dirs %s: install the vendor's CDI spec there, e.g. `nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml` for NVIDIA GPUs)",
				svc.Name, strings.Join(svc.CDIDevices, ", "), err, strings.Join(dirs, ":"))
		}
		cache, err := cdi.NewCache(cdi.WithSpecDirs(dirs...), cdi.WithAutoRefresh(false))
		if err != nil {
			return fail(err)
		}
		if _, err := cache.InjectDevices(s, svc.CDIDevices...); err != nil {
			return fail(err)
		}
		return nil
	}
}
