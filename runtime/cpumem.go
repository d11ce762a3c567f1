package runtime

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/compod/compod/cgroups"
	"github.com/compod/compod/translate"
)

// serviceCPUMemoryOpts are a service's CPU and memory settings below its
// limits (cpu_shares, cpuset, cpu_period/cpu_quota, mem_reservation,
// memswap_limit, mem_swappiness) and oom_score_adj. They go to the
// service's own cgroup, podCgroup/<service>: the pod's cgroup above it
// keeps bounding all services together. cgPath is that service cgroup,
// for checking the cpuset against what the pod may use.
func (e *Engine) serviceCPUMemoryOpts(svc *translate.ServiceSpec, cgPath string) ([]oci.SpecOpts, error) {
	var opts []oci.SpecOpts
	if svc.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(svc.CPUShares))
	}
	if svc.CPUSet != "" {
		if err := checkCPUSet(svc.CPUSet, cgPath); err != nil {
			return nil, fmt.Errorf("service %q: field \"cpuset\": %w", svc.Name, err)
		}
		opts = append(opts, oci.WithCPUs(svc.CPUSet))
	}
	// translate refuses cpu_period/cpu_quota together with cpus, which
	// serviceSpecOpts sets as a quota over cpuPeriod.
	if svc.CPUs == 0 && (svc.CPUQuota != 0 || svc.CPUPeriod != 0) {
		opts = append(opts, withCPUCFS(svc.CPUQuota, svc.CPUPeriod))
	}
	if svc.MemReservation > 0 || svc.MemSwapLimit != 0 || svc.MemSwappiness != nil {
		swap := svc.MemSwapLimit
		if swap != 0 {
			ok, err := cgroups.SwapAccounting()
			if err != nil {
				return nil, fmt.Errorf("service %q: field \"memswap_limit\": %w", svc.Name, err)
			}
			if !ok {
				// docker's behaviour: the service runs, without the
				// swap limit, and says so.
				e.log.Warn("memswap_limit is ignored: this kernel does not limit swap per cgroup (no memory.memsw.limit_in_bytes; boot with swapaccount=1); the service runs with its memory limit only",
					"service", svc.Name, "field", "memswap_limit")
				swap = 0
			}
		}
		opts = append(opts, withMemory(svc.MemReservation, swap, svc.MemSwappiness))
	}
	if svc.OOMScoreAdj != 0 {
		opts = append(opts, withOOMScoreAdj(svc.OOMScoreAdj))
	}
	return opts, nil
}

// checkCPUSet fails when the cpuset names CPUs the pod's cgroup may not
// use (the host's, or a Mesos task's cpuset): runc would fail with
// "invalid argument" writing cpuset.cpus.
func checkCPUSet(cpuset, cgPath string) error {
	want, err := translate.ParseCPUList(cpuset)
	if err != nil {
		return err
	}
	avail, ok, err := cgroups.AvailableCPUs(cgPath)
	if err != nil || !ok {
		return err // no cpuset controller: runc reports it
	}
	have, err := translate.ParseCPUList(avail)
	if err != nil {
		return fmt.Errorf("reading the CPUs the pod may use (%q): %w", avail, err)
	}
	var missing []int
	for c := range want {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	names := make([]string, len(missing))
	for i, c := range missing {
		names[i] = strconv.Itoa(c)
	}
	return fmt.Errorf("%q names CPU %s, which the pod's cgroup may not use (it may use %s)", cpuset, strings.Join(names, ","), avail)
}

// withCPUCFS sets the CFS quota and period that are given; the other
// stays the kernel's (as docker does with only one of them).
func withCPUCFS(quota int64, period uint64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		cpu := linuxResources(s).CPU
		if cpu == nil {
			cpu = &specs.LinuxCPU{}
			s.Linux.Resources.CPU = cpu
		}
		if quota != 0 {
			cpu.Quota = &quota
		}
		if period != 0 {
			cpu.Period = &period
		}
		return nil
	}
}

// withMemory sets the memory soft limit, memory+swap limit (-1:
// unlimited) and swappiness; zero values and nil are left unset.
func withMemory(reservation, swap int64, swappiness *uint64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		mem := linuxResources(s).Memory
		if mem == nil {
			mem = &specs.LinuxMemory{}
			s.Linux.Resources.Memory = mem
		}
		if reservation > 0 {
			mem.Reservation = &reservation
		}
		if swap != 0 {
			mem.Swap = &swap
		}
		if swappiness != nil {
			v := *swappiness
			mem.Swappiness = &v
		}
		return nil
	}
}

func withOOMScoreAdj(v int) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.OOMScoreAdj = &v
		return nil
	}
}

func linuxResources(s *oci.Spec) *specs.LinuxResources {
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	return s.Linux.Resources
}
