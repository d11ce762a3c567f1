package runtime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/compod/compod/translate"
)

// PausePIDPlaceholder stands for the pause process's pid in a spec built
// by ServiceSpec: the services join the pause container's IPC and UTS
// namespaces (/proc/<pid>/ns/ipc), and that pid exists only once the pod
// runs.
const PausePIDPlaceholder = "PAUSE_PID"

// ServiceSpec returns the OCI runtime spec a launch of plan would give
// service (what containerd gets), without running anything: the image's
// config (entrypoint, cmd, env, user, working dir) is read from containerd,
// so the image must be present. The pod-dependent parts are those a launch
// would use (netns path, cgroup path, volume directories), except the
// pause process's pid, which is PausePIDPlaceholder in the namespace
// paths. It leaves nothing behind: the read-only view of the image's root
// filesystem that resolving users needs lives under a lease of its own.
func (e *Engine) ServiceSpec(ctx context.Context, plan *translate.PodPlan, service string) (*specs.Spec, error) {
	if e.client == nil {
		return nil, fmt.Errorf("building the OCI spec needs the image's config from containerd: %w", e.containerdErr)
	}
	var svc *translate.ServiceSpec
	for i := range plan.Services {
		if plan.Services[i].Name == service {
			svc = &plan.Services[i]
		}
	}
	if svc == nil {
		names := make([]string, len(plan.Services))
		for i, s := range plan.Services {
			names[i] = s.Name
		}
		return nil, fmt.Errorf("pod %q has %w %q (its services: %s)", plan.Name, ErrNoService, service, strings.Join(names, ", "))
	}
	ctx = e.withNS(ctx)
	ref, err := NormalizeImage(svc.Image)
	if err != nil {
		return nil, fmt.Errorf("service %q: field \"image\": invalid image reference %q: %w", svc.Name, svc.Image, err)
	}
	img, err := e.client.GetImage(ctx, ref)
	if errdefs.IsNotFound(err) {
		return nil, fmt.Errorf("service %q: image %s is not in containerd's namespace %q: pull it first with `compod up --pull always` or `ctr -n %s image pull`", svc.Name, ref, e.namespace, e.namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("service %q: looking up image %s: %w", svc.Name, ref, err)
	}
	if err := e.unpack(ctx, img); err != nil {
		return nil, fmt.Errorf("service %q: %w", svc.Name, err)
	}

	// The view and anything else made here go with the lease.
	ctx, done, err := e.client.WithLease(ctx)
	if err != nil {
		return nil, fmt.Errorf("service %q: taking a lease for reading the image: %w", svc.Name, err)
	}
	defer done(context.WithoutCancel(ctx))
	id := serviceID(plan.Name, svc.Name)
	ctr := &containers.Container{ID: id}
	viewKey := id + "-spec-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if err := client.WithNewSnapshotView(viewKey, img)(ctx, e.client, ctr); err != nil {
		return nil, fmt.Errorf("service %q: mounting a view of image %s: %w", svc.Name, ref, err)
	}
	defer func() {
		if err := e.client.SnapshotService(ctr.Snapshotter).Remove(context.WithoutCancel(ctx), viewKey); err != nil && !errdefs.IsNotFound(err) {
			e.log.Warn("removing the image view of a spec; the lease removes it later", "snapshot", viewKey, "err", err)
		}
	}()

	rec := &PodRecord{
		Plan:       *plan,
		Namespace:  e.namespace,
		Instance:   e.instance,
		NetNSPath:  filepath.Join(e.netnsDir, e.netnsName(plan.Name)),
		Cgroup:     e.podCgroup(plan.Name),
		VolumesDir: e.VolumesDir(),
	}
	opts, err := e.serviceSpecOpts(ctx, rec, svc, img, 0)
	if err != nil {
		return nil, err
	}
	spec, err := oci.GenerateSpec(ctx, e.client, ctr, opts...)
	if err != nil {
		return nil, fmt.Errorf("service %q: %w", svc.Name, err)
	}
	placeholdPausePID(spec)
	return spec, nil
}

// placeholdPausePID replaces the pid 0 that ServiceSpec builds with in
// the namespace paths by PausePIDPlaceholder.
func placeholdPausePID(s *specs.Spec) {
	if s.Linux == nil {
		return
	}
	for i, ns := range s.Linux.Namespaces {
		if dir, file := filepath.Split(ns.Path); dir == "/proc/0/ns/" {
			s.Linux.Namespaces[i].Path = "/proc/" + PausePIDPlaceholder + "/ns/" + file
		}
	}
}

// ErrNoService is returned (wrapped) by ServiceSpec for a name the plan
// does not have.
var ErrNoService = errors.New("no such service")
