package executor

import (
	"reflect"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/translate"
)

func portsResource(ranges ...[2]uint64) mesos.Resource {
	t := mesos.RANGES
	r := mesos.Resource{Name: "ports", Type: &t, Ranges: &mesos.Value_Ranges{}}
	for _, rg := range ranges {
		r.Ranges.Range = append(r.Ranges.Range, mesos.Value_Range{Begin: rg[0], End: rg[1]})
	}
	return r
}

func TestOfferedPorts(t *testing.T) {
	s := mesos.SCALAR
	got := OfferedPorts([]mesos.Resource{
		{Name: "cpus", Type: &s, Scalar: &mesos.Value_Scalar{Value: 1}},
		portsResource([2]uint64{31005, 31006}, [2]uint64{31000, 31000}),
		portsResource([2]uint64{65535, 65535}),
	})
	want := []uint16{31005, 31006, 31000, 65535}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := OfferedPorts(nil); len(got) != 0 {
		t.Fatalf("got %v", got)
	}
	// Overlapping ranges and resources offer a port once; port 0 is none.
	got = OfferedPorts([]mesos.Resource{
		portsResource([2]uint64{0, 2}, [2]uint64{31000, 31002}),
		portsResource([2]uint64{31001, 31003}, [2]uint64{2, 2}),
	})
	want = []uint16{1, 2, 31000, 31001, 31002, 31003}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("overlapping: got %v, want %v", got, want)
	}
}

func TestAssignHostPorts(t *testing.T) {
	published := []translate.PortMapping{
		{Service: "web", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}, // compose host port: replaced
		{Service: "web", ContainerPort: 443},                                 // container-only: next port, tcp
		{Service: "dns", HostIP: "127.0.0.1", ContainerPort: 53, Protocol: "udp"},
	}
	got, err := AssignHostPorts(published, []uint16{31000, 31001, 31002, 31003}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []translate.PortMapping{
		{Service: "web", HostPort: 31000, ContainerPort: 80, Protocol: "tcp"},
		{Service: "web", HostPort: 31001, ContainerPort: 443, Protocol: "tcp"},
		{Service: "dns", HostIP: "127.0.0.1", HostPort: 31002, ContainerPort: 53, Protocol: "udp"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if published[0].HostPort != 8080 {
		t.Fatal("input modified")
	}

	// No published ports: nothing needed.
	if got, err := AssignHostPorts(nil, nil, nil); err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v", got, err)
	}

	// Too few.
	_, err = AssignHostPorts(published, []uint16{31000}, nil)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, s := range []string{"3 port(s)", "web 80/tcp", "web 443/tcp", "dns 53/udp", "only 1 host port"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
}

// A framework's network_infos port mappings: a compose port they name
// takes the mapping's host port and network; other compose ports take the
// offered ports no mapping uses; a mapping no compose port names is
// published too. Mapping a port Mesos did not offer, or one host port
// twice, is refused.
func TestAssignHostPortsWithMappings(t *testing.T) {
	published := []translate.PortMapping{
		{Service: "web", HostPort: 8080, ContainerPort: 80},
		{Service: "web", ContainerPort: 443},
		{Service: "dns", ContainerPort: 53, Protocol: "udp"},
	}
	mappings := []TaskPortMapping{
		{Network: "front", HostPort: 31002, ContainerPort: 80, Protocol: "tcp"},
		{Network: "front", HostPort: 31003, ContainerPort: 9000, Protocol: "tcp"}, // no compose port
		{Network: "back", HostPort: 31000, ContainerPort: 53, Protocol: "tcp"},    // tcp, not the udp 53
	}
	got, err := AssignHostPorts(published, []uint16{31000, 31001, 31002, 31003, 31004}, mappings)
	if err != nil {
		t.Fatal(err)
	}
	want := []translate.PortMapping{
		{Service: "web", HostPort: 31002, ContainerPort: 80, Protocol: "tcp", Network: "front"},
		{Service: "web", HostPort: 31001, ContainerPort: 443, Protocol: "tcp"},
		{Service: "dns", HostPort: 31004, ContainerPort: 53, Protocol: "udp"},
		{HostPort: 31003, ContainerPort: 9000, Protocol: "tcp", Network: "front"},
		{HostPort: 31000, ContainerPort: 53, Protocol: "tcp", Network: "back"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	for _, c := range []struct {
		name     string
		mappings []TaskPortMapping
		want     []string
	}{
		{"not offered", []TaskPortMapping{{Network: "front", HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
			[]string{`network "front"`, "host port 8080 is not in the task's \"ports\" resources"}},
		{"twice", []TaskPortMapping{{Network: "front", HostPort: 31000, ContainerPort: 80, Protocol: "tcp"}, {Network: "back", HostPort: 31000, ContainerPort: 81, Protocol: "tcp"}},
			[]string{`network "back"`, "31000/tcp is mapped twice"}},
		// The mappings use up the offered ports the compose ports needed.
		{"too few left", []TaskPortMapping{{Network: "front", HostPort: 31000, ContainerPort: 9000, Protocol: "tcp"}},
			[]string{"publishes 3 port(s)", "only 0 host port(s)", "no port mapping uses"}},
	} {
		_, err := AssignHostPorts(published, []uint16{31000}, c.mappings)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, s := range c.want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not say %q", c.name, err, s)
			}
		}
	}
}

func TestApplyHostPorts(t *testing.T) {
	plan := &translate.PodPlan{
		Services: []translate.ServiceSpec{
			{Name: "web", Ports: []translate.PortMapping{{Service: "web", HostPort: 8080, ContainerPort: 80}, {Service: "web", ContainerPort: 443}}},
			{Name: "db"},
		},
		Ports: []translate.PortMapping{{Service: "web", HostPort: 8080, ContainerPort: 80}, {Service: "web", ContainerPort: 443}},
	}
	assigned, err := AssignHostPorts(plan.Ports, []uint16{31000, 31001}, nil)
	if err != nil {
		t.Fatal(err)
	}
	applyHostPorts(plan, assigned)
	if plan.Ports[0].HostPort != 31000 || plan.Ports[1].HostPort != 31001 ||
		plan.Services[0].Ports[0].HostPort != 31000 || plan.Services[0].Ports[1].HostPort != 31001 {
		t.Fatalf("got %+v", plan)
	}
	if l := PortLabel(plan.Ports[1]); l != "compod.port.web.443/tcp" {
		t.Fatalf("label %q", l)
	}
}
