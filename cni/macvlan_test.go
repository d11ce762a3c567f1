package cni_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compod/compod/cni"
	"github.com/compod/compod/cni/cnitest"
)

// parentInterface makes a host interface, up, for a macvlan network to
// sit on: a dummy, or, on kernels built without dummy links (the
// Firecracker VMs of CI), one end of a veth pair. It is removed when the
// test ends.
func parentInterface(t *testing.T, name string) {
	t.Helper()
	exec.Command("ip", "link", "del", "dev", name).Run() // left by a killed run
	out, err := exec.Command("ip", "link", "add", name, "type", "dummy").CombinedOutput()
	if err != nil && strings.Contains(string(out), "Unknown device type") {
		out, err = exec.Command("ip", "link", "add", name, "type", "veth", "peer", "name", name+"p").CombinedOutput()
	}
	if err != nil {
		t.Fatalf("ip link add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "link", "del", "dev", name).Run() })
	if out, err := exec.Command("ip", "link", "set", name, "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set %s up: %v: %s", name, err, out)
	}
}

// An operator's macvlan network (on a parent interface of the host) takes
// pods like a bridge network: the pod gets an interface with an address of
// the network's subnet, and DEL frees both.
func TestMacvlanNetwork(t *testing.T) {
	requireRoot(t)
	requirePlugins(t)
	if _, err := os.Stat("/usr/lib/cni/macvlan"); err != nil {
		t.Skip("CNI plugin macvlan missing")
	}
	const parent, name, subnet = "cpdmvdummy0", "cpdmacvlan", "10.197.31.0/24"
	parentInterface(t, parent)
	confDir, ipam := t.TempDir(), t.TempDir()
	type m = map[string]any
	conf, _ := json.Marshal(m{"cniVersion": cni.DefaultCNIVersion, "name": name, "plugins": []m{{
		"type": "macvlan", "master": parent, "mode": "bridge",
		"ipam": m{"type": "host-local", "ranges": [][]m{{{"subnet": subnet}}}, "dataDir": ipam},
	}}})
	if err := os.WriteFile(filepath.Join(confDir, name+".conflist"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := cni.Config{ConfDir: confDir, BinDirs: testBinDirs, StateDir: newStateDir(t), DefaultNetwork: name}
	before := cnitest.Snapshot(t, cfg.StateDir)
	id := podID(t)
	path := pin(t, newNetNSDir(t), "pod")
	reqs := []cni.NetworkRequest{request(t, cfg, name, "eth0", cni.Options{})}

	atts, err := cni.Attach(context.Background(), cfg, id, path, reqs)
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	_, want, _ := net.ParseCIDR(subnet)
	if len(atts) != 1 || !want.Contains(net.ParseIP(atts[0].IP)) || atts[0].Interface != "eth0" {
		t.Fatalf("attachments %+v: want one on eth0 with an address of %s", atts, subnet)
	}
	inNetNS(t, path, func() error {
		itf, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		addrs, _ := itf.Addrs()
		if !strings.Contains(addrsString(addrs), atts[0].IP+"/24") {
			t.Errorf("eth0 in the pod has %s, want %s/24", addrsString(addrs), atts[0].IP)
		}
		out, err := exec.Command("ip", "-d", "-o", "link", "show", "dev", "eth0").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "macvlan mode bridge") {
			t.Errorf("eth0 in the pod is not a bridge-mode macvlan: %v: %s", err, out)
		}
		return nil
	})
	reserved := reservations(t, filepath.Join(ipam, name))
	if len(reserved) != 1 || reserved[0] != atts[0].IP {
		t.Errorf("host-local reservations %v, want exactly %s", reserved, atts[0].IP)
	}

	if err := cni.Detach(context.Background(), cfg, id, path, reqs); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	inNetNS(t, path, func() error {
		if _, err := net.InterfaceByName("eth0"); err == nil {
			t.Errorf("eth0 is still in the pod's netns after Detach")
		}
		return nil
	})
	if left := reservations(t, filepath.Join(ipam, name)); len(left) > 0 {
		t.Errorf("host-local reservations left after Detach: %v", left)
	}
	if err := cni.ReleaseNetNS(path); err != nil {
		t.Fatal(err)
	}
	before.AssertNoLeak(t, cnitest.Snapshot(t, cfg.StateDir))
}

// reservations lists the addresses host-local holds in dir.
func reservations(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if net.ParseIP(e.Name()) != nil {
			out = append(out, e.Name())
		}
	}
	return out
}
