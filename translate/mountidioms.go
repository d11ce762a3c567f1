package translate

import (
	"path/filepath"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"
)

// dockerSockets are where a host's Docker API socket lives.
var dockerSockets = []string{"/var/run/docker.sock", "/run/docker.sock"}

// warnMountIdioms warns about volumes that are docker idioms with no
// effect, or another one, under compod: they are kept (removing them could
// break a service that works without them), and the user learns why the
// service may not behave as under docker.
func (t *translator) warnMountIdioms(service, field string, v types.ServiceVolumeConfig) {
	switch {
	case v.Type == types.VolumeTypeBind && slices.Contains(dockerSockets, filepath.Clean(v.Source)):
		t.warn(service, field, "%s is the Docker API socket: there is no Docker daemon here (compod runs on containerd), so a service that asks Docker about containers finds none of the pod's, or no socket at all", v.Source)
	case v.Type == types.VolumeTypeVolume && v.Bind != nil && v.Bind.SELinux != "":
		t.warn(service, field, ":%s is ignored: SELinux relabelling applies to bind mounts, and compod runs services without SELinux labels", v.Bind.SELinux)
	}
}
