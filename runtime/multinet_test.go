package runtime_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/cni"
	"github.com/compod/compod/cni/cnitest"
	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// twoNetworks is a private conf dir with two bridge networks of their own
// subnets; the first can publish ports and is the default.
func twoNetworks(t *testing.T) (cni.Config, cnitest.BridgeNetwork, cnitest.BridgeNetwork) {
	t.Helper()
	confDir, a, b := cnitest.TwoBridges(t, "10.197.11.0/24", "10.197.12.0/24")
	return cni.Config{ConfDir: confDir, BinDirs: testBinDirs, DefaultNetwork: "cpdnet1"}, a, b
}

// dialable waits until addr accepts TCP connections from the host.
func dialable(t *testing.T, addr string) {
	t.Helper()
	waitFor(t, 20*time.Second, "a TCP connection to "+addr, func() (bool, string) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
}

// A compose pod on an external network and the default one gets one
// interface on each, in priority order, with the static address, MAC and
// aliases it asks for; each address is reachable from the host; down
// leaves nothing on either network. Through the host helper too.
func TestPodOnTwoCNINetworks(t *testing.T) {
	for _, mode := range []string{runtime.HostHelperNever, runtime.HostHelperAlways} {
		t.Run("host helper "+mode, func(t *testing.T) {
			cfg, a, b := twoNetworks(t)
			h := newHarness(t, runtime.WithHostHelper(mode), runtime.WithCNI(cfg))
			plan := h.compose("networks-two", fmt.Sprintf(`
services:
  web:
    image: %s
    command: ["httpd", "-f", "-p", "8080", "-h", "/"]
    mac_address: 02:42:c0:a8:0b:07
    networks:
      front:
        aliases: [www]
      back:
        priority: -1
        ipv4_address: 10.197.12.77
        aliases: [web-back]
networks:
  front: {}
  back:
    external: true
    name: cpdnet2
`, testenv.BusyboxRef), nil)
			rec := h.up(plan)
			st, err := h.eng.Status(h.ctx, "networks-two")
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Networks) != 2 {
				t.Fatalf("ps shows networks %+v, want two", st.Networks)
			}
			n1, n2 := st.Networks[0], st.Networks[1]
			if n1.Name != "cpdnet1" || n1.Interface != "eth0" || len(n1.IPs) == 0 || !strings.HasPrefix(n1.IPs[0], "10.197.11.") || n1.MAC != "02:42:c0:a8:0b:07" {
				t.Errorf("first network %+v: want cpdnet1 on eth0, an address of 10.197.11.0/24 and the MAC asked for", n1)
			}
			if n2.Name != "cpdnet2" || n2.Interface != "eth1" || len(n2.IPs) == 0 || n2.IPs[0] != "10.197.12.77" {
				t.Errorf("second network %+v: want cpdnet2 on eth1 with the static 10.197.12.77", n2)
			}
			if rec.IP != n1.IPs[0] {
				t.Errorf("the pod's IP is %s, want its first network's %s", rec.IP, n1.IPs[0])
			}
			hosts, err := os.ReadFile(filepath.Join(h.stateDir, "pods", "networks-two", "etc", "hosts"))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{n1.IPs[0] + "\twww", "10.197.12.77\tweb-back"} {
				if !strings.Contains(string(hosts), want) {
					t.Errorf("/etc/hosts of the pod lacks %q:\n%s", want, hosts)
				}
			}
			dialable(t, net.JoinHostPort(n1.IPs[0], "8080"))
			dialable(t, net.JoinHostPort("10.197.12.77", "8080"))
			h.down("networks-two")
			a.AssertNoReservations(t)
			b.AssertNoReservations(t)
		})
	}
}

// An unknown network, a network that cannot publish the pod's ports, and
// a broken conflist: up fails naming it, and nothing is left.
func TestPodNetworkErrors(t *testing.T) {
	cfg, _, _ := twoNetworks(t)
	if err := os.WriteFile(filepath.Join(cfg.ConfDir, "cpdbroken.conflist"), []byte(`{"cniVersion": "1.0.0", "name": `), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, runtime.WithCNI(cfg))
	twoNets := `
services:
  app: {image: %s, command: ["sleep", "3600"], ports: ["127.0.0.1::8080"], networks: [a, b]}
networks: {a: {external: true, name: cpdnet1}, b: {external: true, name: cpdnet2}}
`
	for _, tc := range []struct {
		name, compose, want string
		network             string // the port's network (a Mesos port mapping's)
	}{
		{"unknown", `
services:
  app: {image: %s, command: ["sleep", "3600"], networks: [lan]}
networks: {lan: {external: true, name: cpd-no-such-net}}
`, `no such CNI network "cpd-no-such-net"`, ""},
		{"no portmap", `
services:
  app: {image: %s, command: ["sleep", "3600"], ports: ["127.0.0.1::8080"], networks: [lan]}
networks: {lan: {external: true, name: cpdnet2}}
`, `CNI network cpdnet2 cannot publish ports`, ""},
		{"port on a network without portmap", twoNets, `port 8080/tcp is to be published on network "b", but its conflist`, "b"},
		{"port on a network the pod is not on", twoNets, `published on network "c", which the pod is not on`, "c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := h.compose("networks-err", fmt.Sprintf(tc.compose, testenv.BusyboxRef), nil)
			for i := range plan.Ports {
				plan.Ports[i].Network = tc.network
			}
			_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("up: got %v, want an error containing %q", err, tc.want)
			}
			if tc.name == "unknown" && !strings.Contains(err.Error(), "cpdbroken.conflist") {
				t.Errorf("the error does not name the broken conflist: %v", err)
			}
			h.assertNoLeak()
		})
	}
}
