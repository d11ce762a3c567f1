package runtime

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/compod/compod/internal/nspin"
	"github.com/compod/compod/translate"
)

// DefaultNSPinDir is where the IPC and UTS namespaces of pods are pinned
// (their network namespaces are pinned in the netns dir, where `ip netns`
// shows them). It is host-wide, like /run/netns: pin names carry the
// engine's instance (names.go).
const DefaultNSPinDir = "/run/compod/ns"

// WithNSPinDir sets where pods' IPC and UTS namespaces are pinned.
func WithNSPinDir(dir string) Option { return func(e *Engine) { e.nsPinDir = dir } }

// Why pin the IPC and UTS namespaces: the services join the pod's
// namespaces by path. Joining the pause container's (/proc/<pid>/ns/...)
// means no service can be created before the pause task exists, which puts
// the pause container's whole creation (a shim and a runc create) on the
// critical path of every launch. With the namespaces pinned up front, as
// the netns is, the pause container and the services are created at the
// same time, all joining the pins (CRI-O's pinns does the same). The pause
// container stays: it is the pod's infra container, which `ps` and the
// Mesos agent see, and the owner of the pod's PID namespace when the
// services share one.

// pinsNamespaces reports whether a launch of rec pins the pod's IPC and UTS
// namespaces and so creates the pause container and the services in
// parallel. It does not when the namespaces must be made where compod
// does not live (the host helper: runc would not see pins made in this
// mount namespace), when the services join the pause container's PID
// namespace (it must exist first: a PID namespace cannot be pinned
// without its init), or when the pod has network sysctls (runc applies
// them when it creates the pause container, and a per-interface one needs
// the interface that CNI ADD makes first).
func (e *Engine) pinsNamespaces(plan *translate.PodPlan) bool {
	if e.hostHelper || e.nsPinDir == "" || len(plan.PodSysctls()) > 0 {
		return false
	}
	return !slices.ContainsFunc(plan.Services, func(s translate.ServiceSpec) bool { return s.PID == translate.PIDPod })
}

// nsPinPaths are where the IPC and UTS namespaces of a pod this engine
// launches are pinned.
func (e *Engine) nsPinPaths(pod string) (ipc, uts string) {
	base := filepath.Join(e.nsPinDir, "compod-"+e.qualified(pod))
	return base + "-ipc", base + "-uts"
}

// pinPodNamespaces creates the pod's IPC and UTS namespaces, with the
// pod's hostname set, and pins them where rec says. A pod's services may
// start before its pause container, so the hostname is set here rather
// than by runc when it creates the pause container.
func pinPodNamespaces(rec *PodRecord) error {
	hostname := podHostname(rec)
	_, err := nspin.Pin(filepath.Dir(rec.IPCNSPath), []nspin.Namespace{
		{Flag: unix.CLONE_NEWIPC, Name: filepath.Base(rec.IPCNSPath)},
		{Flag: unix.CLONE_NEWUTS, Name: filepath.Base(rec.UTSNSPath)},
	}, func() error { return unix.Sethostname([]byte(hostname)) })
	if err != nil {
		return fmt.Errorf("pinning the IPC and UTS namespaces of pod %q: %w", rec.Plan.Name, err)
	}
	return nil
}

// releaseNSPins unpins the pod's IPC and UTS namespaces (idempotent); the
// namespaces go with their last process.
func releaseNSPins(rec *PodRecord) error {
	var errs []error
	for _, p := range []string{rec.IPCNSPath, rec.UTSNSPath} {
		if err := nspin.Release(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("releasing the namespace pins of pod %q: %w", rec.Plan.Name, err)
	}
	return nil
}
