package mesosframework

import (
	"slices"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/resources"
)

func offer(id, agent string, cpus, mem float64, ports ...[2]uint64) mesos.Offer {
	rs := mesos.Resources{resources.NewCPUs(cpus).Resource, resources.NewMemory(mem).Resource}
	if len(ports) > 0 {
		var rg mesos.Ranges
		for _, p := range ports {
			rg = append(rg, mesos.Value_Range{Begin: p[0], End: p[1]})
		}
		rs = append(rs, resources.Build().Name(resources.NamePorts).Ranges(rg).Resource)
	}
	return mesos.Offer{ID: mesos.OfferID{Value: id}, AgentID: mesos.AgentID{Value: agent}, Hostname: "h-" + agent, Resources: rs}
}

func ids(m Match) []string {
	var out []string
	for _, id := range m.OfferIDs {
		out = append(out, id.Value)
	}
	return out
}

func TestMatchOffers(t *testing.T) {
	req := Request{CPUs: 0.5, Mem: 256, ExecutorCPUs: 0.1, ExecutorMem: 64, NumPorts: 1}
	for _, tc := range []struct {
		name    string
		offers  []mesos.Offer
		req     Request
		agent   string
		offerID []string
		ports   []uint64
		err     string
	}{
		{
			name:    "one offer, lowest port",
			offers:  []mesos.Offer{offer("o1", "a1", 2, 2048, [2]uint64{31000, 31010})},
			req:     req,
			agent:   "a1",
			offerID: []string{"o1"},
			ports:   []uint64{31000},
		},
		{
			name: "offers of one agent add up",
			offers: []mesos.Offer{
				offer("o1", "a1", 0.3, 100, [2]uint64{31005, 31010}),
				offer("o2", "a1", 0.3, 300, [2]uint64{31000, 31000}),
			},
			req:     req,
			agent:   "a1",
			offerID: []string{"o1", "o2"},
			ports:   []uint64{31000},
		},
		{
			name: "first agent too small, second fits",
			offers: []mesos.Offer{
				offer("o1", "a1", 0.2, 2048, [2]uint64{31000, 31010}),
				offer("o2", "a2", 1, 2048, [2]uint64{32000, 32001}),
			},
			req:     req,
			agent:   "a2",
			offerID: []string{"o2"},
			ports:   []uint64{32000},
		},
		{
			name:    "a fixed port, plus one more",
			offers:  []mesos.Offer{offer("o1", "a1", 2, 2048, [2]uint64{31000, 31002}, [2]uint64{31007, 31009})},
			req:     Request{CPUs: 1, Mem: 1, Ports: []uint64{31008}, NumPorts: 1},
			agent:   "a1",
			offerID: []string{"o1"},
			ports:   []uint64{31000, 31008},
		},
		{
			name:   "fixed port not offered",
			offers: []mesos.Offer{offer("o1", "a1", 2, 2048, [2]uint64{31001, 31010})},
			req:    Request{CPUs: 1, Mem: 1, Ports: []uint64{31000}},
			err:    "port 31000 not offered (offered [31001-31010])",
		},
		{
			name:   "no ports",
			offers: []mesos.Offer{offer("o1", "a1", 2, 2048)},
			req:    req,
			err:    "want 1 port(s), offered none",
		},
		{
			name:   "too little mem for task and executor",
			offers: []mesos.Offer{offer("o1", "a1", 2, 300, [2]uint64{31000, 31000})},
			req:    req,
			err:    "mem 300 < 320",
		},
		{
			name: "no offers",
			req:  req,
			err:  "no offers",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := MatchOffers(tc.offers, tc.req)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.AgentID.Value != tc.agent || !slices.Equal(ids(m), tc.offerID) || !slices.Equal(m.Ports, tc.ports) {
				t.Fatalf("match = agent %s offers %v ports %v, want %s %v %v", m.AgentID.Value, ids(m), m.Ports, tc.agent, tc.offerID, tc.ports)
			}
		})
	}
}

func TestMatchOffersSkipsReserved(t *testing.T) {
	o := offer("o1", "a1", 2, 2048, [2]uint64{31000, 31001})
	role := "web"
	for i := range o.Resources {
		o.Resources[i].Role = &role
	}
	if _, err := MatchOffers([]mesos.Offer{o}, Request{CPUs: 0.1, Mem: 1}); err == nil {
		t.Fatal("reserved resources matched")
	}
}

func TestPickPorts(t *testing.T) {
	offered := mesos.Ranges{{Begin: 31005, End: 31006}, {Begin: 31000, End: 31001}}
	got, err := PickPorts(offered, nil, 3)
	if err != nil || !slices.Equal(got, []uint64{31000, 31001, 31005}) {
		t.Fatalf("PickPorts = %v, %v", got, err)
	}
	if _, err := PickPorts(offered, []uint64{31001, 31001}, 0); err == nil {
		t.Fatal("a port requested twice was accepted")
	}
	if _, err := PickPorts(offered, nil, 5); err == nil {
		t.Fatal("more ports than offered were picked")
	}
	// The top of the port space does not wrap around.
	got, err = PickPorts(mesos.Ranges{{Begin: 65535, End: 65535}}, nil, 1)
	if err != nil || !slices.Equal(got, []uint64{65535}) {
		t.Fatalf("PickPorts at 65535 = %v, %v", got, err)
	}
}

func TestBuildTask(t *testing.T) {
	spec := TaskSpec{
		TaskID:      "t1",
		Compod:      "/opt/compod/bin/compod",
		ComposeFile: "/var/tmp/e2e/compose.yaml",
		Env:         map[string]string{"COMPOD_LOG_LEVEL": "debug"},
		Request:     Request{CPUs: 0.5, Mem: 256, ExecutorCPUs: 0.1, ExecutorMem: 64, NumPorts: 1},
	}
	task := BuildTask(spec, "fw1", Match{AgentID: mesos.AgentID{Value: "a1"}, Ports: []uint64{31003}})
	x := task.Executor
	if x == nil || x.GetType() != mesos.ExecutorInfo_CUSTOM || x.ExecutorID.Value != "compod-t1" || x.GetFrameworkID().GetValue() != "fw1" {
		t.Fatalf("executor = %+v", x)
	}
	c := x.Command
	if c.GetValue() != spec.Compod || c.GetShell() || !slices.Equal(c.Arguments, []string{"compod", "executor"}) {
		t.Fatalf("command = %+v", c)
	}
	if len(c.URIs) != 1 || c.URIs[0].Value != spec.ComposeFile || c.URIs[0].GetExtract() || c.URIs[0].GetOutputFile() != "compose.yaml" {
		t.Fatalf("uris = %+v", c.URIs)
	}
	if vs := c.GetEnvironment().GetVariables(); len(vs) != 1 || vs[0].Name != "COMPOD_LOG_LEVEL" || vs[0].GetValue() != "debug" {
		t.Fatalf("environment = %+v", vs)
	}
	if task.Labels == nil || len(task.Labels.Labels) != 1 || task.Labels.Labels[0].Key != LabelFileName || task.Labels.Labels[0].GetValue() != "compose.yaml" {
		t.Fatalf("labels = %+v", task.Labels)
	}
	if task.AgentID.Value != "a1" || task.TaskID.Value != "t1" {
		t.Fatalf("task ids = %+v %+v", task.AgentID, task.TaskID)
	}
	var ports []uint64
	cpus, mem := 0.0, 0.0
	for _, r := range task.Resources {
		switch r.Name {
		case "cpus":
			cpus = r.GetScalar().GetValue()
		case "mem":
			mem = r.GetScalar().GetValue()
		case "ports":
			for _, rg := range r.GetRanges().GetRange() {
				for p := rg.Begin; p <= rg.End; p++ {
					ports = append(ports, p)
				}
			}
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("resource %v: %v", r, err)
		}
	}
	if cpus != 0.5 || mem != 256 || !slices.Equal(ports, []uint64{31003}) {
		t.Fatalf("task resources = %v", mesos.Resources(task.Resources))
	}
	for _, r := range x.Resources {
		if err := r.Validate(); err != nil {
			t.Fatalf("executor resource %v: %v", r, err)
		}
	}
}
