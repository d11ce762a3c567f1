package cni_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compod/compod/cni"
)

func requirePlugins(t *testing.T) {
	t.Helper()
	for _, p := range []string{"bridge", "host-local", "portmap", "firewall", "loopback"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", p)); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("CNI plugin %s missing: install containernetworking-plugins", p)
			}
			t.Skipf("CNI plugin %s missing", p)
		}
	}
}

func TestBadConfDir(t *testing.T) {
	write := func(dir, name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(t.TempDir(), "nope")
	empty := t.TempDir()
	garbage := t.TempDir()
	write(garbage, "10-net.conflist", "this is { not json")
	write(garbage, "20-ok.conflist", `{"cniVersion":"1.0.0","name":"ok","plugins":[{"type":"loopback"}]}`)
	notype := t.TempDir()
	write(notype, "10-net.conf", `{"cniVersion":"1.0.0","name":"x"}`)
	noplugins := t.TempDir()
	write(noplugins, "10-net.conflist", `{"cniVersion":"1.0.0","name":"x","plugins":[]}`)
	onlyOther := t.TempDir()
	write(onlyOther, "README", "not a config")

	for _, c := range []struct {
		name, dir string
		want      []string
	}{
		{"missing", missing, []string{missing, "no such file"}},
		{"empty", empty, []string{empty, "no network config"}},
		{"no config files", onlyOther, []string{onlyOther, "no network config"}},
		{"garbage", garbage, []string{filepath.Join(garbage, "10-net.conflist"), "fix or remove it"}},
		{"conf without type", notype, []string{filepath.Join(notype, "10-net.conf"), "missing 'type'"}},
		{"conflist without plugins", noplugins, []string{filepath.Join(noplugins, "10-net.conflist")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := cni.New(cni.Config{ConfDir: c.dir, StateDir: t.TempDir(), BinDirs: testBinDirs})
			if err == nil {
				t.Fatal("New succeeded")
			}
			t.Logf("error: %v", err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q", w)
				}
			}
		})
	}
}

func TestOperatorConfDir(t *testing.T) {
	requirePlugins(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "50-b.conflist"), []byte(`{"cniVersion":"1.0.0","name":"second","plugins":[{"type":"loopback"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "10-a.conf"), []byte(`{"cniVersion":"0.4.0","name":"first","type":"bridge","bridge":"x0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := cni.New(cni.Config{ConfDir: dir, StateDir: t.TempDir(), BinDirs: testBinDirs})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if n.Name() != "first" {
		t.Errorf("Name() = %q, want the first file's network %q", n.Name(), "first")
	}

	// A plugin that is nowhere in the bin dirs.
	if err := os.WriteFile(filepath.Join(dir, "00-c.conflist"), []byte(`{"cniVersion":"1.0.0","name":"third","plugins":[{"type":"no-such-plugin"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = cni.New(cni.Config{ConfDir: dir, StateDir: t.TempDir(), BinDirs: testBinDirs})
	if err == nil || !strings.Contains(err.Error(), `"no-such-plugin"`) || !strings.Contains(err.Error(), "/usr/lib/cni") {
		t.Errorf("missing plugin: %v", err)
	}
	// A version the plugins do not speak.
	if err := os.WriteFile(filepath.Join(dir, "00-c.conflist"), []byte(`{"cniVersion":"0.3.1","name":"third","plugins":[{"type":"firewall"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = cni.New(cni.Config{ConfDir: dir, StateDir: t.TempDir(), BinDirs: testBinDirs})
	if err == nil || !strings.Contains(err.Error(), `0.3.1`) {
		t.Errorf("unsupported version: %v", err)
	}
}

func TestNoPluginsInBinDirs(t *testing.T) {
	bin := t.TempDir()
	_, err := cni.New(cni.Config{StateDir: t.TempDir(), BinDirs: []string{bin}})
	if err == nil || !strings.Contains(err.Error(), bin) || !strings.Contains(err.Error(), `"bridge"`) {
		t.Errorf("no plugins: %v", err)
	}
}

func TestDefaultConfWrittenUnderStateDir(t *testing.T) {
	requirePlugins(t)
	stateDir := t.TempDir()
	if _, err := cni.New(cni.Config{StateDir: stateDir}); err != nil {
		t.Fatalf("New: %v", err)
	}
	file := filepath.Join(stateDir, "cni", "net.d", "10-compod.conflist")
	want := cni.DefaultConfList(cni.DefaultIPAMDir)
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s =\n%s\nwant\n%s", file, got, want)
	}
	for _, s := range []string{`"cniVersion": "1.0.0"`, `"bridge": "compod0"`, `"subnet": "10.89.0.0/16"`, `"dst": "0.0.0.0/0"`, `"portMappings": true`, `"snat": true`, `"backend": "iptables"`, `"hairpinMode": true`, `"ipMasq": true`, `"isGateway": true`, cni.DefaultIPAMDir} {
		if !bytes.Contains(got, []byte(s)) {
			t.Errorf("default conflist lacks %s", s)
		}
	}
	if err := os.WriteFile(file, []byte(`{"cniVersion":"1.0.0","name":"compod","plugins":[{"type":"loopback"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := cni.New(cni.Config{StateDir: stateDir})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got, _ := os.ReadFile(file); !bytes.Equal(got, want) {
		t.Errorf("changed default conflist was not rewritten:\n%s", got)
	}
	if n.ConfFile() != file {
		t.Errorf("ConfFile() = %s, want %s", n.ConfFile(), file)
	}
	ents, _ := os.ReadDir(filepath.Dir(file))
	if len(ents) != 1 {
		t.Errorf("net.d holds %v, want only the conflist", ents)
	}
	if _, err := cni.New(cni.Config{}); err == nil {
		t.Error("New without a state dir succeeded")
	}
}
