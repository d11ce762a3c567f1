package executor

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
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

// A task's network_infos carry labels and port_mappings (Marathon's
// portMappings on a CNI network). As under Mesos' network/cni isolator,
// the plugins of the network get the whole NetworkInfo in their config's
// args (org.apache.mesos/network_info) on ADD and DEL, and the labels as
// CNI_ARGS too; a port mapping's host port reaches the compose service
// publishing that container port, on that network; a mapping no compose
// port names is published as well; TASK_RUNNING reports the mappings per
// network. A recording plugin chained into the network is the witness.
func TestE2ENetworkInfosMesosArgs(t *testing.T) {
	e := newE2E(t, e2eOpts{})
	recorder := testenv.BuildBinary(t, "./cni/cnitest/recorder")
	confDir, ipam, records := t.TempDir(), t.TempDir(), t.TempDir()
	front := cnitest.BridgeNetwork{Name: "cpde2emfront", Bridge: "cpde2emfront", Subnet: "10.197.24.0/24", IPAMDir: ipam, Portmap: true,
		Recorder: true, RecordDir: records}
	front.Write(t, confDir)
	e.env = map[string]string{"COMPOD_CNI_CONF_DIR": confDir, "COMPOD_CNI_BIN_DIR": "/usr/lib/cni:/opt/cni/bin:" + filepath.Dir(recorder)}

	ports := freePorts(t, 3)
	web, extra := uint32(ports[1][0]), uint32(ports[2][0])
	task := taskInfo("mesosargs", []string{"docker-compose.yml"}, ports)
	team, tcp := "blue", "tcp"
	task.Container = &mesos.ContainerInfo{
		Type: mesos.ContainerInfo_MESOS.Enum(),
		NetworkInfos: []mesos.NetworkInfo{{
			Name:   &front.Name,
			Labels: &mesos.Labels{Labels: []mesos.Label{{Key: "team", Value: &team}}},
			PortMappings: []mesos.NetworkInfo_PortMapping{
				{HostPort: web, ContainerPort: 8080, Protocol: &tcp},
				{HostPort: extra, ContainerPort: 9000},
			},
		}},
	}
	compose := "services:" + fmt.Sprintf(webService, testenv.BusyboxRef)
	ex := e.launch(task, map[string]string{"docker-compose.yml": compose})
	run := waitState(t, ex, task.TaskID.Value, mesos.TASK_RUNNING, 60*time.Second)

	// The compose port took the mapping's host port, not the first offered.
	if got := labelValue(run, "compod.port.web.8080/tcp"); got != strconv.Itoa(int(web)) {
		t.Errorf("web 8080/tcp on host port %q, want the mapped %d", got, web)
	}
	httpEventually(t, strconv.Itoa(int(web)), "hello-from-compod")
	var mapped []string
	for _, ni := range run.GetContainerStatus().GetNetworkInfos() {
		for _, pm := range ni.PortMappings {
			mapped = append(mapped, fmt.Sprintf("%s %d->%d/%s", ni.GetName(), pm.HostPort, pm.ContainerPort, pm.GetProtocol()))
		}
	}
	sort.Strings(mapped)
	wantMapped := []string{fmt.Sprintf("%s %d->8080/tcp", front.Name, web), fmt.Sprintf("%s %d->9000/tcp", front.Name, extra)}
	sort.Strings(wantMapped)
	if !slices.Equal(mapped, wantMapped) {
		t.Errorf("TASK_RUNNING port mappings %v, want %v", mapped, wantMapped)
	}

	if err := ex.Kill(ctxFor(t, 5*time.Second), task.TaskID.Value, nil); err != nil {
		t.Fatal(err)
	}
	waitState(t, ex, task.TaskID.Value, mesos.TASK_KILLED, 30*time.Second)
	waitExit(t, ex, 30*time.Second)
	front.AssertNoReservations(t)

	for _, cmd := range []string{"ADD", "DEL"} {
		files, _ := filepath.Glob(filepath.Join(records, cmd+"-*.json"))
		if len(files) != 1 {
			t.Errorf("%s: %d records of the recording plugin (%v), want 1", cmd, len(files), files)
			continue
		}
		var rec struct {
			Config struct {
				Args struct {
					Mesos struct {
						NetworkInfo mesos.NetworkInfo `json:"network_info"`
					} `json:"org.apache.mesos"`
				} `json:"args"`
			} `json:"config"`
			CNIArgs string `json:"cniArgs"`
		}
		b, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Fatalf("%s record %s: %v", cmd, files[0], err)
		}
		ni := rec.Config.Args.Mesos.NetworkInfo
		if ni.GetName() != front.Name || len(ni.GetLabels().GetLabels()) != 1 || ni.GetLabels().Labels[0].GetValue() != team ||
			len(ni.PortMappings) != 2 || ni.PortMappings[0].HostPort != web {
			t.Errorf("%s: the plugin's args.org.apache.mesos.network_info = %+v, want the task's NetworkInfo", cmd, ni)
		}
		if !strings.Contains(rec.CNIArgs, "team=blue") {
			t.Errorf("%s: CNI_ARGS %q, want the label team=blue", cmd, rec.CNIArgs)
		}
	}
}
