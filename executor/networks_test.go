package executor

import (
	"reflect"
	"strings"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/translate"
)

func TestTaskNetworks(t *testing.T) {
	name, ip, k, v := "cpdnet2", "10.197.12.9", "team", "blue"
	info := mesos.TaskInfo{Container: &mesos.ContainerInfo{NetworkInfos: []mesos.NetworkInfo{{
		Name:        &name,
		Labels:      &mesos.Labels{Labels: []mesos.Label{{Key: k, Value: &v}}},
		IPAddresses: []mesos.NetworkInfo_IPAddress{{IPAddress: &ip}},
	}}}}
	// The NetworkInfo also goes to the plugins' config args, in the JSON
	// form Mesos' network/cni isolator gives them (docs/cni.md of Mesos).
	networkInfo := map[string]any{
		"name":         "cpdnet2",
		"labels":       map[string]any{"labels": []any{map[string]any{"key": "team", "value": "blue"}}},
		"ip_addresses": []any{map[string]any{"ip_address": ip}},
	}
	want := []translate.NetworkSpec{{Name: "cpdnet2", CNIName: "cpdnet2", IPv4: ip, Args: map[string]string{"team": "blue"},
		ConfigArgs: map[string]any{"org.apache.mesos": map[string]any{"network_info": networkInfo}}}}
	if got := taskNetworks(info); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got := taskNetworks(mesos.TaskInfo{}); got != nil {
		t.Errorf("a task naming no network: got %+v, want nil (the compose file's networks)", got)
	}
}

// port_mappings of the task's networks, checked; a port out of range or
// an unknown protocol names the mapping.
func TestTaskPortMappings(t *testing.T) {
	front, back, udp, sctp := "front", "back", "UDP", "sctp"
	info := mesos.TaskInfo{Container: &mesos.ContainerInfo{NetworkInfos: []mesos.NetworkInfo{
		{Name: &front, PortMappings: []mesos.NetworkInfo_PortMapping{{HostPort: 31000, ContainerPort: 80}}},
		{Name: &back, PortMappings: []mesos.NetworkInfo_PortMapping{{HostPort: 31001, ContainerPort: 53, Protocol: &udp}}},
	}}}
	got, err := taskPortMappings(info)
	want := []TaskPortMapping{{Network: "front", HostPort: 31000, ContainerPort: 80, Protocol: "tcp"}, {Network: "back", HostPort: 31001, ContainerPort: 53, Protocol: "udp"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, %v; want %+v", got, err, want)
	}
	for _, c := range []struct {
		pm   mesos.NetworkInfo_PortMapping
		want string
	}{
		{mesos.NetworkInfo_PortMapping{HostPort: 31000, ContainerPort: 80, Protocol: &sctp}, `network "front": port_mappings[0]: protocol "sctp"`},
		{mesos.NetworkInfo_PortMapping{HostPort: 70000, ContainerPort: 80}, `network "front": port_mappings[0]: host port 70000`},
		{mesos.NetworkInfo_PortMapping{HostPort: 31000}, "container port 0"},
	} {
		bad := mesos.TaskInfo{Container: &mesos.ContainerInfo{NetworkInfos: []mesos.NetworkInfo{{Name: &front, PortMappings: []mesos.NetworkInfo_PortMapping{c.pm}}}}}
		if _, err := taskPortMappings(bad); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one saying %q", c.pm, err, c.want)
		}
	}
}

// The task's labels reach the launch: compod.bandwidth.* there limit the
// pod (runtime.UpOptions.Labels).
func TestTaskLabels(t *testing.T) {
	v := "10mbit"
	info := mesos.TaskInfo{Labels: &mesos.Labels{Labels: []mesos.Label{{Key: "compod.bandwidth.ingress", Value: &v}}}}
	if got := taskLabels(info); !reflect.DeepEqual(got, map[string]string{"compod.bandwidth.ingress": "10mbit"}) {
		t.Errorf("got %+v", got)
	}
	if got := taskLabels(mesos.TaskInfo{}); got != nil {
		t.Errorf("a task without labels: got %+v, want nil", got)
	}
}
