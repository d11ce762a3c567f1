package translate

import (
	"context"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func loadCompose(t *testing.T, compose string) (*PodPlan, error) {
	t.Helper()
	dir := writeProject(t, map[string]string{"compose.yaml": compose})
	return Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}})
}

func TestPodNetworks(t *testing.T) {
	plan, err := loadCompose(t, `
services:
  web:
    image: busybox
    mac_address: 02:42:ac:11:00:07
    networks:
      front:
        aliases: [www]
      lan:
        priority: 10
        ipv4_address: 10.197.1.9
        interface_name: lan0
  db:
    image: busybox
    networks:
      lan:
        aliases: [database]
        ipv4_address: 10.197.1.9
      back: {}
networks:
  front: {}
  back: {}
  lan:
    external: true
    name: cpdnet1
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []NetworkSpec{
		{Name: "lan", CNIName: "cpdnet1", Interface: "lan0", IPv4: "10.197.1.9", MAC: "02:42:ac:11:00:07", Aliases: []string{"database"}},
		// front and back are both the default network: one interface.
		{Name: "back", Aliases: []string{"www"}},
	}
	if !reflect.DeepEqual(plan.Networks, want) {
		t.Errorf("networks:\n got %+v\nwant %+v", plan.Networks, want)
	}
}

func TestPodNetworksConflicts(t *testing.T) {
	for name, tc := range map[string]struct{ compose, want string }{
		"two addresses on one network": {`
services:
  a: {image: busybox, networks: {lan: {ipv4_address: 10.197.1.9}}}
  b: {image: busybox, networks: {lan: {ipv4_address: 10.197.1.10}}}
networks: {lan: {external: true, name: cpdnet1}}
`, `service "b": field "networks.lan.ipv4_address": "10.197.1.10" conflicts with ipv4_address "10.197.1.9" of service "a"`},
		"none on one service only": {`
services:
  a: {image: busybox, network_mode: none}
  b: {image: busybox}
`, `set it on every service`},
		"host on one service only": {`
services:
  a: {image: busybox, network_mode: host}
  b: {image: busybox}
`, `service "b": field "network_mode": service "a" has network_mode host, which applies to the pod's one network namespace: set it on every service (here: b)`},
		"host and none": {`
services:
  a: {image: busybox, network_mode: host}
  b: {image: busybox, network_mode: none}
`, `"none" conflicts with network_mode "host" of service "a"`},
		"bridge": {`
services:
  a: {image: busybox, network_mode: bridge}
`, `network_mode "bridge" is not supported`},
		"bad address": {`
services:
  a: {image: busybox, networks: {lan: {ipv4_address: fe80::1}}}
networks: {lan: {}}
`, `is not an IPv4 address`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadCompose(t, tc.compose)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestNetworkModeNone(t *testing.T) {
	plan, err := loadCompose(t, `
services:
  a: {image: busybox, network_mode: none}
  b: {image: busybox, network_mode: none}
`)
	if err != nil {
		t.Fatal(err)
	}
	if plan.NetworkMode != "none" || len(plan.Networks) != 0 {
		t.Errorf("got mode %q networks %+v, want none and no networks", plan.NetworkMode, plan.Networks)
	}
}

func TestNetworkModeHost(t *testing.T) {
	plan, err := loadCompose(t, `
services:
  a: {image: busybox, network_mode: host, ports: ["8080:80"], hostname: web}
  b: {image: busybox, network_mode: host}
`)
	if err != nil {
		t.Fatal(err)
	}
	if plan.NetworkMode != "host" || len(plan.Networks) != 0 {
		t.Errorf("got mode %q networks %+v, want host and no networks", plan.NetworkMode, plan.Networks)
	}
	if len(plan.Ports) != 0 || len(plan.Services[0].Ports)+len(plan.Services[1].Ports) != 0 {
		t.Errorf("ports %+v are in the plan; with network_mode host they are dropped", plan.Ports)
	}
	for _, want := range []string{
		`service "a": field "ports": ignored with network_mode host: the service listens on the host's ports directly`,
		`service "a": field "hostname": ignored with network_mode host: the pod's hostname is the host's`,
	} {
		if !slices.ContainsFunc(plan.Warnings, func(w string) bool { return strings.Contains(w, want) }) {
			t.Errorf("no warning %q in %q", want, plan.Warnings)
		}
	}
}
