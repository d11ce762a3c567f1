package executor

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/cni/cnitest"
	"github.com/compod/compod/internal/testenv"
)

// A Mesos task names its CNI networks in container.network_infos, as Mesos'
// own network/cni isolator reads them: the pod lands on exactly those
// networks of the operator's conf dir (not the default one), with a
// static address asked for in ip_addresses, and TASK_RUNNING reports each
// network by name with its address. KILL leaves no reservation behind.
func TestE2ENetworkInfos(t *testing.T) {
	e := newE2E(t, e2eOpts{})
	confDir, ipam := t.TempDir(), t.TempDir()
	front := cnitest.BridgeNetwork{Name: "cpde2efront", Bridge: "cpde2efront", Subnet: "10.197.21.0/24", IPAMDir: ipam, Portmap: true}
	back := cnitest.BridgeNetwork{Name: "cpde2eback", Bridge: "cpde2eback", Subnet: "10.197.22.0/24", IPAMDir: ipam}
	other := cnitest.BridgeNetwork{Name: "cpde2eother", Bridge: "cpde2eother", Subnet: "10.197.23.0/24", IPAMDir: ipam}
	for _, n := range []cnitest.BridgeNetwork{front, back, other} {
		n.Write(t, confDir)
	}
	// The operator's default is a network the task does not name.
	e.env = map[string]string{"COMPOD_CNI_CONF_DIR": confDir, "COMPOD_CNI_NETWORK": other.Name}

	compose := fmt.Sprintf("services:\n  web:\n    image: %s\n    command: [\"-listen\", \":8080\"]\n", testenv.TestappRef)
	task := taskInfo("netinfos", []string{"docker-compose.yml"}, nil)
	static := "10.197.22.77"
	task.Container = &mesos.ContainerInfo{
		Type: mesos.ContainerInfo_MESOS.Enum(),
		NetworkInfos: []mesos.NetworkInfo{
			{Name: &front.Name},
			{Name: &back.Name, IPAddresses: []mesos.NetworkInfo_IPAddress{{IPAddress: &static}}},
		},
	}
	ex := e.launch(task, map[string]string{"docker-compose.yml": compose})
	run := waitState(t, ex, task.TaskID.Value, mesos.TASK_RUNNING, 60*time.Second)

	got := map[string]string{}
	for _, ni := range run.GetContainerStatus().GetNetworkInfos() {
		for _, a := range ni.IPAddresses {
			got[ni.GetName()] = a.GetIPAddress()
		}
	}
	_, frontNet, _ := net.ParseCIDR(front.Subnet)
	if ip := net.ParseIP(got[front.Name]); ip == nil || !frontNet.Contains(ip) {
		t.Errorf("TASK_RUNNING network_infos %v: want an address of %s on %s", got, front.Subnet, front.Name)
	}
	if got[back.Name] != static {
		t.Errorf("TASK_RUNNING network_infos %v: want the static %s on %s", got, static, back.Name)
	}
	if _, ok := got[other.Name]; ok || len(got) != 2 {
		t.Errorf("TASK_RUNNING network_infos %v: want exactly the task's two networks", got)
	}
	// The service answers on the static address, from the host.
	httpGetEventually(t, "http://"+static+":8080/", 20*time.Second)

	if err := ex.Kill(ctxFor(t, 5*time.Second), task.TaskID.Value, nil); err != nil {
		t.Fatal(err)
	}
	waitState(t, ex, task.TaskID.Value, mesos.TASK_KILLED, 30*time.Second)
	waitExit(t, ex, 30*time.Second)
	for _, n := range []cnitest.BridgeNetwork{front, back, other} {
		n.AssertNoReservations(t)
	}
}

// httpGetEventually GETs url until it answers 200.
func httpGetEventually(t *testing.T, url string, d time.Duration) {
	t.Helper()
	c := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(d)
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: no answer within %v (last: %v)", url, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
