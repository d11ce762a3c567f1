package runtime

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/compod/compod/translate"
)

// rlimInfinity is RLIM_INFINITY, what -1 means in compose ulimits.
const rlimInfinity = ^uint64(0)

// serviceLimitOpts are a service's compose ulimits, shm_size and
// no-new-privileges. Its sysctls are the pod's: sandboxSysctlOpts.
func serviceLimitOpts(svc *translate.ServiceSpec) []oci.SpecOpts {
	var opts []oci.SpecOpts
	for _, u := range svc.Ulimits {
		opts = append(opts, oci.WithRlimit(&specs.POSIXRlimit{
			Type: "RLIMIT_" + strings.ToUpper(u.Name),
			Soft: rlimitValue(u.Soft),
			Hard: rlimitValue(u.Hard),
		}))
	}
	if svc.ShmSize > 0 {
		opts = append(opts, withShmSize(svc.ShmSize))
	}
	switch nnp := svc.NoNewPrivileges; {
	case nnp == nil:
		// containerd's default spec: no_new_privs on.
	case *nnp:
		opts = append(opts, oci.WithNoNewPrivileges)
	default:
		opts = append(opts, oci.WithNewPrivileges)
	}
	return opts
}

func rlimitValue(v int64) uint64 {
	if v < 0 {
		return rlimInfinity
	}
	return uint64(v)
}

// withShmSize sizes the default spec's /dev/shm tmpfs in bytes (docker's
// unit; oci.WithDevShmSize takes KiB and would round a size down).
func withShmSize(bytes int64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		for i, m := range s.Mounts {
			if filepath.Clean(m.Destination) != "/dev/shm" || m.Type != "tmpfs" {
				continue
			}
			o := make([]string, 0, len(m.Options)+1)
			for _, opt := range m.Options {
				if !strings.HasPrefix(opt, "size=") {
					o = append(o, opt)
				}
			}
			s.Mounts[i].Options = append(o, fmt.Sprintf("size=%d", bytes))
			return nil
		}
		return fmt.Errorf("field \"shm_size\": the spec has no /dev/shm tmpfs to size")
	}
}

// withPodSysctls sets the pod's sysctls on the pause container: it owns
// the pod's IPC namespace and is the first to join the network namespace,
// so runc writes them there, once, before any service starts (runc
// writes sysctls before it makes /proc/sys read-only).
func withPodSysctls(sysctls map[string]string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if len(sysctls) == 0 {
			return nil
		}
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		for k, v := range sysctls {
			s.Linux.Sysctl[k] = v
		}
		return nil
	}
}
