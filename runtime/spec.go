package runtime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/compod/compod/cgroups"
	"github.com/compod/compod/internal/pauseimage"
	"github.com/compod/compod/translate"
)

// cpuPeriod is the CFS period used to express compose `cpus` as a quota.
const cpuPeriod = 100000

// serviceSpecOpts builds the OCI spec of one service: the image's config,
// then the compose overrides, then the pod's shared namespaces and files.
func (e *Engine) serviceSpecOpts(ctx context.Context, rec *PodRecord, svc *translate.ServiceSpec, img client.Image, pausePID uint32) ([]oci.SpecOpts, error) {
	args, err := serviceArgs(ctx, img, svc)
	if err != nil {
		return nil, err
	}
	podDir := e.podDir(rec.Plan.Name)
	opts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithProcessArgs(args...),
		withPodNetwork(rec),
		oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.IPCNamespace, Path: fmt.Sprintf("/proc/%d/ns/ipc", pausePID)}),
		withServiceUTS(svc, pausePID),
		oci.WithCgroup(cgroups.ContainerPath(rec.Cgroup, svc.Name)),
		oci.WithAnnotations(map[string]string{LabelPod: rec.Plan.Name, LabelService: svc.Name}),
	}
	pidNS, err := e.withPIDNamespace(ctx, rec, svc, pausePID)
	if err != nil {
		return nil, err
	}
	if pidNS != nil {
		opts = append(opts, pidNS)
	}
	if len(svc.Env) > 0 {
		opts = append(opts, oci.WithEnv(svc.Env))
	}
	if svc.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(svc.WorkingDir))
	}
	if svc.User != "" {
		opts = append(opts, withUser(svc.User))
	}
	if len(svc.GroupAdd) > 0 {
		opts = append(opts, withGroupAdd(svc.GroupAdd))
	}
	mounts := []specs.Mount{
		bindMount(filepath.Join(podDir, "etc", "hosts"), "/etc/hosts", false),
		bindMount(filepath.Join(podDir, "etc", "resolv.conf"), "/etc/resolv.conf", false),
		bindMount(filepath.Join(podDir, "etc", hostnameFile(svc)), "/etc/hostname", false),
	}
	for _, m := range svc.Mounts {
		switch m.Type {
		case "bind":
			mounts = append(mounts, bindMount(m.Source, m.Target, m.ReadOnly))
		case "volume":
			mounts = append(mounts, bindMount(e.volumePath(rec, m.Source), m.Target, m.ReadOnly))
		case "tmpfs":
			mounts = append(mounts, specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: m.Target, Options: tmpfsOptions(m)})
		default:
			return nil, fmt.Errorf("service %q: mount %s: unknown type %q", svc.Name, m.Target, m.Type)
		}
	}
	// Secrets and configs last: they may sit inside a volume or tmpfs.
	mounts = append(mounts, fileMountSpecs(podDir, svc)...)
	opts = append(opts, oci.WithMounts(mounts))
	if svc.MemLimit > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(svc.MemLimit)))
	}
	if svc.CPUs > 0 {
		opts = append(opts, oci.WithCPUCFS(int64(svc.CPUs*cpuPeriod), cpuPeriod))
	}
	if svc.PidsLimit > 0 {
		opts = append(opts, oci.WithPidsLimit(svc.PidsLimit))
	}
	cpuMem, err := e.serviceCPUMemoryOpts(svc, cgroups.ContainerPath(rec.Cgroup, svc.Name))
	if err != nil {
		return nil, err
	}
	opts = append(opts, cpuMem...)
	if svc.Privileged {
		// Every capability and no seccomp filter; docker ignores cap_add
		// and cap_drop here too.
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices)
	} else {
		// The default seccomp profile allows the syscalls of the
		// capabilities in the spec (mount for CAP_SYS_ADMIN, ...), so it
		// is computed from the final capability set, after cap_add and
		// cap_drop, as docker does.
		opts = append(opts, withComposeCapabilities(svc.Name, svc.CapAdd, svc.CapDrop))
		switch {
		case len(svc.SeccompProfile) > 0:
			opts = append(opts, withSeccompProfile(svc.Name, svc.SeccompProfile))
		case !svc.SeccompUnconfined:
			opts = append(opts, seccomp.WithDefaultProfile())
		}
	}
	if svc.AppArmorProfile != "" {
		aa, err := appArmorOpt(svc)
		if err != nil {
			return nil, err
		}
		if aa != nil {
			opts = append(opts, aa)
		}
	}
	if len(svc.CDIDevices) > 0 {
		opts = append(opts, withCDIDevices(svc))
	}
	// After privileged's host devices: a device mapped to another path
	// is added to them.
	devices, err := serviceDeviceOpts(svc)
	if err != nil {
		return nil, err
	}
	opts = append(opts, devices...)
	if svc.ReadOnly {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if svc.Tty {
		opts = append(opts, oci.WithTTY)
	}
	opts = append(opts, serviceLimitOpts(svc)...)
	if svc.Init {
		initBin, err := pauseimage.InstallInit(filepath.Join(e.stateDir, "bin"))
		if err != nil {
			return nil, fmt.Errorf("service %q: field \"init\": %w", svc.Name, err)
		}
		opts = append(opts, withInit(initBin))
	}
	return opts, nil
}

// sandboxSpecOpts builds the pause container's spec: it owns the pod's IPC
// and UTS namespaces and joins the pinned network namespace.
func (e *Engine) sandboxSpecOpts(rec *PodRecord, img client.Image) []oci.SpecOpts {
	return []oci.SpecOpts{
		oci.WithImageConfig(img),
		seccomp.WithDefaultProfile(),
		oci.WithHostname(podHostname(rec)),
		withPodNetwork(rec),
		oci.WithCgroup(cgroups.ContainerPath(rec.Cgroup, "pause")),
		oci.WithRootFSReadonly(),
		oci.WithAnnotations(map[string]string{LabelPod: rec.Plan.Name, LabelRole: roleSandbox}),
		withPodSysctls(rec.Plan.PodSysctls()),
	}
}

// withServiceUTS joins the pause container's UTS namespace (the pod's
// hostname), or gives a service with a hostname of its own a UTS
// namespace of its own with that name.
func withServiceUTS(svc *translate.ServiceSpec, pausePID uint32) oci.SpecOpts {
	if svc.Hostname == "" {
		return oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.UTSNamespace, Path: fmt.Sprintf("/proc/%d/ns/uts", pausePID)})
	}
	return func(ctx context.Context, c oci.Client, ctr *containers.Container, s *oci.Spec) error {
		if err := oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.UTSNamespace})(ctx, c, ctr, s); err != nil {
			return err
		}
		return oci.WithHostname(svc.Hostname)(ctx, c, ctr, s)
	}
}

// hostnameFile is the pod file mounted at the service's /etc/hostname.
func hostnameFile(svc *translate.ServiceSpec) string {
	if svc.Hostname == "" {
		return "hostname"
	}
	return "hostname-" + svc.Name
}

// withPodNetwork joins the pod's pinned netns, or with network_mode host
// no network namespace at all: the host's, as docker's --network host.
func withPodNetwork(rec *PodRecord) oci.SpecOpts {
	if rec.NetworkMode == "host" {
		return oci.WithHostNamespace(specs.NetworkNamespace)
	}
	return oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: rec.NetNSPath})
}

// serviceArgs applies compose's entrypoint/command rules to the image's:
// an entrypoint given in compose resets the image's CMD; a command given in
// compose replaces only the CMD.
func serviceArgs(ctx context.Context, img client.Image, svc *translate.ServiceSpec) ([]string, error) {
	spec, err := img.Spec(ctx)
	if err != nil {
		return nil, fmt.Errorf("service %q: reading config of image %s: %w", svc.Name, img.Name(), err)
	}
	entrypoint, cmd := spec.Config.Entrypoint, spec.Config.Cmd
	if svc.Entrypoint != nil {
		entrypoint, cmd = svc.Entrypoint, nil
	}
	if svc.Command != nil {
		cmd = svc.Command
	}
	args := append(append([]string{}, entrypoint...), cmd...)
	if len(args) == 0 {
		return nil, fmt.Errorf("service %q: field \"command\": no command: the image %s has no entrypoint or cmd, and none is given", svc.Name, img.Name())
	}
	return args, nil
}

func bindMount(src, dst string, ro bool) specs.Mount {
	o := []string{"rbind", "rprivate"}
	if ro {
		o = append(o, "ro")
	} else {
		o = append(o, "rw")
	}
	return specs.Mount{Type: "bind", Source: src, Destination: dst, Options: o}
}

// withUser is oci.WithUser with an error that names the field and the user:
// a name is looked up in the image's /etc/passwd (and a group in
// /etc/group) only when the container is created, so this is where a
// misspelt user shows.
func withUser(user string) oci.SpecOpts {
	return func(ctx context.Context, c oci.Client, ctr *containers.Container, s *oci.Spec) error {
		err := oci.WithUser(user)(ctx, c, ctr, s)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, oci.ErrNoUsersFound):
			return fmt.Errorf("field \"user\": %q: no such user in the image's /etc/passwd", user)
		case errors.Is(err, oci.ErrNoGroupsFound):
			return fmt.Errorf("field \"user\": %q: no such group in the image's /etc/group", user)
		}
		return fmt.Errorf("field \"user\": %q: %w", user, err)
	}
}

// withInit makes compod's init PID 1 of the service (compose's `init:
// true`): the binary is bind-mounted read-only and runs the service's
// command as its child (cmd/compod-pause). Applied last, it wraps the
// final command line.
func withInit(hostPath string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		s.Mounts = append(s.Mounts, bindMount(hostPath, pauseimage.InitPath, true))
		s.Process.Args = append([]string{pauseimage.InitPath, "--"}, s.Process.Args...)
		return nil
	}
}
