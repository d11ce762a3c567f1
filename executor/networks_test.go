package executor

import (
	"reflect"
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
	want := []translate.NetworkSpec{{Name: "cpdnet2", CNIName: "cpdnet2", IPv4: ip, Args: map[string]string{"team": "blue"}}}
	if got := taskNetworks(info); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := taskNetworks(mesos.TaskInfo{}); got != nil {
		t.Errorf("a task naming no network: got %+v, want nil (the compose file's networks)", got)
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
