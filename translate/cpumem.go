package translate

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// The CPU and memory settings beyond the limits (resources in
// service.go): cpu_shares, cpuset, cpu_period, cpu_quota,
// mem_reservation, memswap_limit, mem_swappiness and oom_score_adj. Each
// applies to the service's own cgroup, below the pod's, so the pod's
// bounds (compod's or the Mesos task's) still hold for the services
// together. The checks are docker's, with its messages' substance.

// Bounds docker (and the kernel) put on the CFS settings, in µs.
const (
	minCPUPeriod = 1000    // 1ms
	maxCPUPeriod = 1000000 // 1s
	minCPUQuota  = 1000    // 1ms
)

// minCPUShares is the kernel's minimum cpu.shares; docker raises smaller
// values to it, compod refuses them (a typo should not become a weight).
const minCPUShares = 2

// cpuMemory translates the CPU and memory settings after resources has
// set spec.CPUs and spec.MemLimit.
func (t *translator) cpuMemory(s *types.ServiceConfig, spec *ServiceSpec) {
	name := s.Name
	switch {
	case s.CPUShares < 0:
		t.fail(name, "cpu_shares", "%d is not a CPU weight: use a number ≥ %d (docker's default is 1024)", s.CPUShares, minCPUShares)
	case s.CPUShares > 0 && s.CPUShares < minCPUShares:
		t.fail(name, "cpu_shares", "%d is below the kernel's minimum of %d", s.CPUShares, minCPUShares)
	default:
		spec.CPUShares = uint64(s.CPUShares)
	}

	if s.CPUSet != "" {
		if _, err := ParseCPUList(s.CPUSet); err != nil {
			t.fail(name, "cpuset", "%v", err)
		}
		spec.CPUSet = s.CPUSet
	}

	if s.CPUPeriod != 0 || s.CPUQuota != 0 {
		// cpus is a quota over a fixed period: both ways at once would
		// mean two quotas.
		if spec.CPUs != 0 {
			field := "cpu_quota"
			if s.CPUQuota == 0 {
				field = "cpu_period"
			}
			t.fail(name, field, "conflicts with cpus (%g): cpus is a CPU quota already; set either cpus or cpu_period/cpu_quota", spec.CPUs)
		}
		if s.CPUPeriod != 0 && (s.CPUPeriod < minCPUPeriod || s.CPUPeriod > maxCPUPeriod) {
			t.fail(name, "cpu_period", "%dµs is out of range: the CFS period is %d to %d µs", s.CPUPeriod, minCPUPeriod, maxCPUPeriod)
		}
		if s.CPUQuota != 0 && s.CPUQuota != -1 && s.CPUQuota < minCPUQuota {
			t.fail(name, "cpu_quota", "%dµs is below the minimum of %dµs (or -1 for no quota)", s.CPUQuota, minCPUQuota)
		}
		spec.CPUPeriod, spec.CPUQuota = uint64(max(s.CPUPeriod, 0)), s.CPUQuota
	}

	spec.MemReservation = int64(s.MemReservation)
	switch {
	case spec.MemReservation < 0:
		t.fail(name, "mem_reservation", "must not be negative")
	case spec.MemReservation > 0 && spec.MemLimit > 0 && spec.MemReservation > spec.MemLimit:
		t.fail(name, "mem_reservation", "%d bytes is more than the memory limit (%d bytes): the reservation is a soft limit below mem_limit", spec.MemReservation, spec.MemLimit)
	}

	spec.MemSwapLimit = int64(s.MemSwapLimit)
	switch {
	case spec.MemSwapLimit == 0:
	case spec.MemLimit == 0:
		t.fail(name, "memswap_limit", "needs a memory limit: memswap_limit is memory plus swap, so set mem_limit too (as docker requires)")
	case spec.MemSwapLimit < -1:
		t.fail(name, "memswap_limit", "%d is not a limit: use bytes ≥ mem_limit, or -1 for unlimited swap", spec.MemSwapLimit)
	case spec.MemSwapLimit > 0 && spec.MemSwapLimit < spec.MemLimit:
		t.fail(name, "memswap_limit", "%d bytes is less than mem_limit (%d bytes): memswap_limit is memory plus swap, so it must be at least mem_limit", spec.MemSwapLimit, spec.MemLimit)
	}

	// compose-go cannot tell mem_swappiness: 0 from unset (docker compose
	// neither): 0 keeps the kernel's default, as in docker compose.
	if s.MemSwappiness != 0 {
		if s.MemSwappiness < 0 || s.MemSwappiness > 100 {
			t.fail(name, "mem_swappiness", "%d is out of range: use 0 to 100", s.MemSwappiness)
		} else {
			v := uint64(s.MemSwappiness)
			spec.MemSwappiness = &v
		}
	}

	if s.OomScoreAdj < -1000 || s.OomScoreAdj > 1000 {
		t.fail(name, "oom_score_adj", "%d is out of range: use -1000 to 1000", s.OomScoreAdj)
	} else {
		spec.OOMScoreAdj = int(s.OomScoreAdj)
	}
}

// ParseCPUList reads a list of CPUs in the kernel's format ("0-3,6"), as
// cpuset takes it, and returns the CPUs in it.
func ParseCPUList(list string) (map[int]bool, error) {
	cpus := map[int]bool{}
	for _, part := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		first, err1 := strconv.Atoi(lo)
		last, err2 := first, error(nil)
		if isRange {
			last, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || first < 0 || last < first {
			return nil, fmt.Errorf("%q is not a list of CPUs: write CPU numbers and ranges such as 0-2,4", list)
		}
		if last-first > 1<<16 {
			return nil, fmt.Errorf("%q names more CPUs than a host has", list)
		}
		for c := first; c <= last; c++ {
			cpus[c] = true
		}
	}
	return cpus, nil
}

// EffectiveCPUs is the CPU limit the service runs under, in CPUs: cpus,
// or cpu_quota over cpu_period (docker's default period 100ms when only
// the quota is set); 0 when unlimited. The admission policy judges it.
func (s *ServiceSpec) EffectiveCPUs() float64 {
	if s.CPUs > 0 {
		return s.CPUs
	}
	if s.CPUQuota > 0 {
		period := s.CPUPeriod
		if period == 0 {
			period = 100000
		}
		return float64(s.CPUQuota) / float64(period)
	}
	return 0
}
