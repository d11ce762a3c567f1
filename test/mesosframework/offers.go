package mesosframework

import (
	"fmt"
	"slices"
	"strings"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
)

// Request is what one task asks of an agent's offers.
type Request struct {
	// CPUs and Mem are the task's own resources.
	CPUs, Mem float64
	// ExecutorCPUs and ExecutorMem are the custom executor's resources;
	// the agent's container is sized for task + executor.
	ExecutorCPUs, ExecutorMem float64
	// Ports are host ports the task must get (e.g. the port of a task that
	// ran before); NumPorts more are taken, lowest first, from what is left.
	Ports    []uint64
	NumPorts int
}

// Match is a set of offers from one agent that together satisfy a Request.
type Match struct {
	AgentID  mesos.AgentID
	Hostname string
	OfferIDs []mesos.OfferID
	// Ports are the host ports the task gets, ascending: the order of the
	// task's "ports" resource, in which compod assigns them to the pod's
	// published ports.
	Ports []uint64
}

// epsilon absorbs float noise in scalar resources (Mesos keeps three
// decimals).
const epsilon = 1e-3

// unreserved reports whether r may be used by a framework without a role:
// no reservation, default role, not revocable, not a disk with a source.
func unreserved(r mesos.Resource) bool {
	if len(r.Reservations) > 0 || r.Reservation != nil || r.Revocable != nil {
		return false
	}
	if role := r.GetRole(); role != "" && role != "*" {
		return false
	}
	return true
}

type agentOffers struct {
	agentID   mesos.AgentID
	hostname  string
	ids       []mesos.OfferID
	cpus, mem float64
	ports     mesos.Ranges
}

// MatchOffers finds the first agent (in offer order) whose offers, taken
// together, hold the request; the Match names every offer of that agent
// (accepting them all returns what the task does not use). The error says
// what each agent lacks.
func MatchOffers(offers []mesos.Offer, req Request) (Match, error) {
	var agents []*agentOffers
	byID := map[string]*agentOffers{}
	for _, o := range offers {
		a := byID[o.AgentID.Value]
		if a == nil {
			a = &agentOffers{agentID: o.AgentID, hostname: o.Hostname}
			byID[o.AgentID.Value] = a
			agents = append(agents, a)
		}
		a.ids = append(a.ids, o.ID)
		for _, r := range o.Resources {
			if !unreserved(r) {
				continue
			}
			switch r.Name {
			case "cpus":
				a.cpus += r.GetScalar().GetValue()
			case "mem":
				a.mem += r.GetScalar().GetValue()
			case "ports":
				for _, rg := range r.GetRanges().GetRange() {
					lo, hi := rg.Begin, rg.End
					if lo > hi {
						lo, hi = hi, lo
					}
					a.ports = append(a.ports, mesos.Value_Range{Begin: lo, End: hi})
				}
			}
		}
	}
	if len(agents) == 0 {
		return Match{}, fmt.Errorf("no offers")
	}
	var why []string
	for _, a := range agents {
		a.ports = a.ports.Sort().Squash()
		var lack []string
		if cpus := req.CPUs + req.ExecutorCPUs; a.cpus+epsilon < cpus {
			lack = append(lack, fmt.Sprintf("cpus %.3g < %.3g", a.cpus, cpus))
		}
		if mem := req.Mem + req.ExecutorMem; a.mem+epsilon < mem {
			lack = append(lack, fmt.Sprintf("mem %.6g < %.6g", a.mem, mem))
		}
		ports, err := PickPorts(a.ports, req.Ports, req.NumPorts)
		if err != nil {
			lack = append(lack, err.Error())
		}
		if len(lack) > 0 {
			why = append(why, fmt.Sprintf("agent %s (%s): %s", a.agentID.Value, a.hostname, strings.Join(lack, ", ")))
			continue
		}
		return Match{AgentID: a.agentID, Hostname: a.hostname, OfferIDs: a.ids, Ports: ports}, nil
	}
	return Match{}, fmt.Errorf("no agent's offers hold the task: %s", strings.Join(why, "; "))
}

// PickPorts takes the fixed ports (each must be offered) and then n more,
// lowest first, from the offered ranges; the result is ascending.
func PickPorts(offered mesos.Ranges, fixed []uint64, n int) ([]uint64, error) {
	var out []uint64
	for _, p := range fixed {
		if !inRanges(offered, p) {
			return nil, fmt.Errorf("port %d not offered (offered %s)", p, formatRanges(offered))
		}
		if slices.Contains(out, p) {
			return nil, fmt.Errorf("port %d requested twice", p)
		}
		out = append(out, p)
	}
	for _, rg := range offered.Clone().Sort() {
		for p := rg.Begin; p <= rg.End && len(out) < len(fixed)+n; p++ {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
			if p == rg.End { // avoid wrapping at the top of uint64
				break
			}
		}
	}
	if len(out) < len(fixed)+n {
		return nil, fmt.Errorf("want %d port(s), offered %s", len(fixed)+n, formatRanges(offered))
	}
	slices.Sort(out)
	return out, nil
}

func inRanges(rs mesos.Ranges, p uint64) bool {
	for _, rg := range rs {
		if rg.Begin <= p && p <= rg.End {
			return true
		}
	}
	return false
}

func formatRanges(rs mesos.Ranges) string {
	if len(rs) == 0 {
		return "none"
	}
	var parts []string
	for _, rg := range rs {
		parts = append(parts, fmt.Sprintf("[%d-%d]", rg.Begin, rg.End))
	}
	return strings.Join(parts, ",")
}

// TaskResources are the task's resources: cpus, mem and the ports (as
// ranges, in ascending order).
func TaskResources(req Request, ports []uint64) mesos.Resources {
	out := mesos.Resources{
		resources.NewCPUs(req.CPUs).Resource,
		resources.NewMemory(req.Mem).Resource,
	}
	if len(ports) > 0 {
		out = append(out, resources.Build().Name(resources.NamePorts).Ranges(mesos.NewRanges(ports...)).Resource)
	}
	return out
}

// ExecutorResources are the custom executor's resources.
func ExecutorResources(req Request) mesos.Resources {
	return mesos.Resources{
		resources.NewCPUs(req.ExecutorCPUs).Resource,
		resources.NewMemory(req.ExecutorMem).Resource,
	}
}
