package runtime

import (
	"context"
	"fmt"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/compod/compod/runtime/podstate"
	"github.com/compod/compod/translate"
)

// servicePIDPlaceholder stands, in a spec built by ServiceSpec (nothing
// runs), for the pid of the service whose PID namespace a service joins.
func servicePIDPlaceholder(service string) string { return "PID_OF_" + service }

// withPIDNamespace puts the service in the PID namespace its plan says
// (translate/pidns.go): its own (containerd's default), the pod's (the
// pause container's), the host's, or that of another service, which has
// started before it (it depends on it). pausePID 0 means the pod does not
// run (ServiceSpec): the paths then hold placeholders.
func (e *Engine) withPIDNamespace(ctx context.Context, rec *PodRecord, svc *translate.ServiceSpec, pausePID uint32) (oci.SpecOpts, error) {
	join := func(pid string) oci.SpecOpts {
		return oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.PIDNamespace, Path: "/proc/" + pid + "/ns/pid"})
	}
	switch mode := svc.PID; {
	case mode == "":
		return nil, nil
	case mode == translate.PIDHost:
		return oci.WithHostNamespace(specs.PIDNamespace), nil
	case mode == translate.PIDPod:
		return join(fmt.Sprint(pausePID)), nil
	case strings.HasPrefix(mode, "service:"):
		owner := strings.TrimPrefix(mode, "service:")
		if pausePID == 0 {
			return join(servicePIDPlaceholder(owner)), nil
		}
		pid, err := e.servicePID(ctx, rec.Plan.Name, owner)
		if err != nil {
			return nil, fmt.Errorf("service %q: field \"pid\": joining the PID namespace of service %q: %w", svc.Name, owner, err)
		}
		return join(fmt.Sprint(pid)), nil
	default:
		return nil, fmt.Errorf("service %q: field \"pid\": unknown PID mode %q", svc.Name, mode)
	}
}

// servicePID is the pid of a service's running task.
func (e *Engine) servicePID(ctx context.Context, pod, service string) (uint32, error) {
	ctr, err := e.client.LoadContainer(ctx, serviceID(pod, service))
	if err != nil {
		return 0, err
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("it has no task: %w", err)
	}
	return task.Pid(), nil
}

// rejoinPIDNamespace is, for a restart of a service that joins another
// service's PID namespace, e.rejoinPIDNamespace once that service runs
// again: it was killed with that service's process (the namespace's init)
// and that service is being restarted too, or has exited for good, which
// the restart then fails with.
func (s *supervisor) rejoinPIDNamespace(ctx context.Context, svc *translate.ServiceSpec, ctr client.Container) error {
	owner, ok := strings.CutPrefix(svc.PID, "service:")
	if !ok {
		return nil
	}
	if err := s.waitRunning(ctx, owner); err != nil {
		return fmt.Errorf("service %q: field \"pid\": the service %q whose PID namespace it joins: %w", svc.Name, owner, err)
	}
	return s.e.rejoinPIDNamespace(ctx, s.rec, svc, ctr)
}

// waitRunning blocks until svc has a running task that is not being
// replaced; it fails when svc has exited and will not be restarted.
func (s *supervisor) waitRunning(ctx context.Context, svc string) error {
	return s.waitService(ctx, svc, func(st podstate.Service) (bool, error) {
		switch {
		case st.Task == podstate.StatusRunning && !st.Restarting:
			return true, nil
		case st.Task == podstate.StatusExited && !st.Restarting:
			return true, fmt.Errorf("it exited with code %d and is not restarted", st.ExitCode)
		}
		return false, nil
	})
}

// rejoinPIDNamespace points the container of a service that joins another
// service's PID namespace at that service's current task before the
// restart policy starts it again: the namespace it joined went with the
// task that owned it (whose exit killed this service too), and the
// owner's new task has a new pid.
func (e *Engine) rejoinPIDNamespace(ctx context.Context, rec *PodRecord, svc *translate.ServiceSpec, ctr client.Container) error {
	owner, ok := strings.CutPrefix(svc.PID, "service:")
	if !ok {
		return nil
	}
	pid, err := e.servicePID(ctx, rec.Plan.Name, owner)
	if err != nil {
		return fmt.Errorf("service %q: field \"pid\": the service %q whose PID namespace it joins does not run: %w", svc.Name, owner, err)
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return err
	}
	for i, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace {
			spec.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/pid", pid)
		}
	}
	return ctr.Update(ctx, client.UpdateContainerOpts(client.WithSpec(spec)))
}
