package runtime_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/cni"
	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

var testBinDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// defaultNetworkPlugins are the plugins compod's default network runs.
var defaultNetworkPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// linkPlugins puts the default network's plugins into dir (as links to the
// installed ones): a bin dir whose plugins a test can take away.
func linkPlugins(t *testing.T, dir string) {
	t.Helper()
	for _, p := range defaultNetworkPlugins {
		var src string
		for _, d := range testBinDirs {
			if _, err := os.Stat(filepath.Join(d, p)); err == nil {
				src = filepath.Join(d, p)
				break
			}
		}
		if src == "" {
			t.Fatalf("CNI plugin %s is in none of %v: install containernetworking-plugins", p, testBinDirs)
		}
		if err := os.Symlink(src, filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
}

// `ps`, `logs` and `down` need no CNI plugin to start: only `up` looks for
// them. `down` uses the cached result of ADD for DEL, which still runs the
// plugins; when they are gone, down says which one and where it looked,
// removes the containers but leaves the network (the netns pin, the
// address, the port mapping) whole, and keeps the pod's record, so that
// `down` run again once the plugins are back removes the rest.
func TestPsLogsAndDownWithoutCNIPlugins(t *testing.T) {
	h := newHarness(t)
	bin := t.TempDir()
	linkPlugins(t, bin)
	upper := h.newEngine(runtime.WithCNI(cni.Config{BinDirs: []string{bin}}))
	port := freeLoopbackPort(t)
	plan := h.compose("noplugins", fmt.Sprintf(`
services:
  app:
    image: %s
    command: ["sh", "-c", "echo hello from app; exec sleep 3600"]
    ports: ["127.0.0.1:%d:8080"]
`, testenv.BusyboxRef, port), nil)
	rec, err := upper.Up(h.ctx, plan, runtime.UpOptions{})
	if err != nil {
		t.Fatalf("up: %v", err)
	}

	// A compod whose bin dir has no plugin at all.
	empty := t.TempDir()
	other := h.newEngine(runtime.WithCNI(cni.Config{BinDirs: []string{empty}}))
	st, err := other.Status(h.ctx, "noplugins")
	if err != nil {
		t.Fatalf("ps without CNI plugins: %v", err)
	}
	if st.State != runtime.PhaseRunning || st.IP != rec.IP {
		t.Errorf("ps without CNI plugins: state %q ip %q, want %q %q", st.State, st.IP, runtime.PhaseRunning, rec.IP)
	}
	if pods, err := other.List(h.ctx); err != nil || len(pods) != 1 || pods[0].Name != "noplugins" {
		t.Errorf("ps (all pods) without CNI plugins: %v, %v", pods, err)
	}
	waitFor(t, 10*time.Second, "the service's output in logs", func() (bool, string) {
		var b strings.Builder
		if err := other.Logs(h.ctx, "noplugins", runtime.LogOptions{Service: "app"}, &b); err != nil {
			return false, err.Error()
		}
		return strings.Contains(b.String(), "hello from app"), b.String()
	})
	// It cannot start a pod: up says what is missing, before making anything.
	_, err = other.Up(h.ctx, h.compose("noplugins2", fmt.Sprintf(`
services:
  app:
    image: %s
    command: ["sleep", "3600"]
`, testenv.BusyboxRef), nil), runtime.UpOptions{})
	wantErr(t, err, "noplugins2", `"bridge"`, empty, "install containernetworking-plugins")

	// The plugins are uninstalled while the pod runs.
	for _, p := range defaultNetworkPlugins {
		if err := os.Remove(filepath.Join(bin, p)); err != nil {
			t.Fatal(err)
		}
	}
	grace := time.Second
	err = other.Down(h.ctx, "noplugins", runtime.DownOptions{Timeout: &grace})
	t.Logf("down without the plugins: %v", err)
	// Looked for where up found them (the record says) and where this
	// compod looks.
	wantErr(t, err, "noplugins", `"bridge"`, "not found", bin, empty, "record is kept", "run down again")
	if !errors.Is(err, cni.ErrPluginNotFound) {
		t.Errorf("down: %v, want cni.ErrPluginNotFound in it", err)
	}
	if _, err := other.Status(h.ctx, "noplugins"); err != nil {
		t.Errorf("ps after a failed down (the record must be kept): %v", err)
	}
	if _, err := os.Stat(rec.NetNSPath); err != nil {
		t.Errorf("the netns pin went although DEL could not run: %v", err)
	}

	// The plugins are back: down removes the rest.
	linkPlugins(t, bin)
	if err := other.Down(h.ctx, "noplugins", runtime.DownOptions{Timeout: &grace}); err != nil {
		t.Fatalf("down once the plugins are back: %v", err)
	}
	h.assertNoLeak()
}

// `down` runs DEL against the network the pod was attached to (its record
// keeps the conf file, bin dirs and IPAM dir), not against whatever
// network the compod that removes it is configured with: the pod's
// address, port mapping and firewall chains go, and the other network is
// not touched. Through the host helper too, which is handed the same.
func TestDownUsesTheNetworkOfUp(t *testing.T) {
	for _, mode := range []string{runtime.HostHelperNever, runtime.HostHelperAlways} {
		t.Run("host helper "+mode, func(t *testing.T) {
			h := newHarness(t, runtime.WithHostHelper(mode))
			plan := h.compose("othernet", fmt.Sprintf(`
services:
  app:
    image: %s
    command: ["sleep", "3600"]
    ports: ["127.0.0.1:%d:8080"]
`, testenv.BusyboxRef, freeLoopbackPort(t)), nil)
			rec := h.up(plan)
			if rec.Network != cni.DefaultNetworkName {
				t.Fatalf("pod is on network %q, want compod's default %q", rec.Network, cni.DefaultNetworkName)
			}

			confDir, ipamDir := t.TempDir(), t.TempDir()
			conf := fmt.Sprintf(`{"cniVersion": "1.0.0", "name": "compodtest-other", "plugins": [
  {"type": "bridge", "bridge": "cpt-other0", "ipam": {"type": "host-local", "subnet": "10.199.77.0/24", "dataDir": %q}}]}`, ipamDir)
			if err := os.WriteFile(filepath.Join(confDir, "10-other.conflist"), []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			other := h.newEngine(runtime.WithCNI(cni.Config{ConfDir: confDir, BinDirs: testBinDirs}))
			grace := time.Second
			if err := other.Down(h.ctx, "othernet", runtime.DownOptions{Timeout: &grace}); err != nil {
				t.Fatalf("down through a compod with another CNI conf dir: %v", err)
			}
			h.assertNoLeak()
			if ents, _ := os.ReadDir(ipamDir); len(ents) > 0 {
				t.Errorf("down ran against the other network: its IPAM dir %s holds %v", ipamDir, ents)
			}
		})
	}
}
