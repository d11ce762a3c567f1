package translate

import (
	"context"
	"path/filepath"
	"reflect"
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
		"host": {`
services:
  a: {image: busybox, network_mode: host}
`, `network_mode "host" is not supported`},
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
