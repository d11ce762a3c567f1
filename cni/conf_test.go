package cni_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
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
	third, err := cni.New(cni.Config{ConfDir: dir, StateDir: t.TempDir(), BinDirs: testBinDirs})
	if err != nil {
		t.Fatalf("New (plugins are only looked for by Validate): %v", err)
	}
	if third.Name() != "third" {
		t.Errorf("Name() = %q, want the new first file's network %q", third.Name(), "third")
	}
	// The config a pod record keeps names the file: it still loads the
	// network the pod was attached to, whatever sorts first now.
	cfg := n.Config()
	if cfg.ConfFile != filepath.Join(dir, "10-a.conf") || cfg.ConfDir != dir || len(cfg.BinDirs) != len(testBinDirs) {
		t.Errorf("Config() = %+v, want conf file 10-a.conf of %s and the bin dirs", cfg, dir)
	}
	if again, err := cni.New(cfg); err != nil {
		t.Errorf("New(Config()): %v", err)
	} else if again.Name() != "first" {
		t.Errorf("New(Config()) after a file sorting first was added loads network %q, want %q", again.Name(), "first")
	}
	os.Remove(cfg.ConfFile)
	if _, err := cni.New(cfg); err == nil || !strings.Contains(err.Error(), cfg.ConfFile) || !strings.Contains(err.Error(), "restore it") {
		t.Errorf("New(Config()) with its file gone: %v", err)
	}
	err = third.Validate(context.Background())
	if !errors.Is(err, cni.ErrPluginNotFound) || !strings.Contains(err.Error(), `"no-such-plugin"`) || !strings.Contains(err.Error(), "/usr/lib/cni") {
		t.Errorf("missing plugin: %v", err)
	}
	// A version the plugins do not speak.
	if err := os.WriteFile(filepath.Join(dir, "00-c.conflist"), []byte(`{"cniVersion":"0.3.1","name":"third","plugins":[{"type":"firewall"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	third, err = cni.New(cni.Config{ConfDir: dir, StateDir: t.TempDir(), BinDirs: testBinDirs})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := third.Validate(context.Background()); err == nil || !strings.Contains(err.Error(), `0.3.1`) {
		t.Errorf("unsupported version: %v", err)
	}
}

// Without plugins a network still loads (ps, logs and down need no
// plugin); attaching a pod, or removing one, says which plugin is missing
// and where it was looked for, and Remove undoes nothing.
func TestNoPluginsInBinDirs(t *testing.T) {
	bin := t.TempDir()
	ctx := context.Background()
	n, err := cni.New(cni.Config{StateDir: t.TempDir(), BinDirs: []string{bin}})
	if err != nil {
		t.Fatalf("New without plugins: %v", err)
	}
	want := func(what string, err error, parts ...string) {
		t.Helper()
		if !errors.Is(err, cni.ErrPluginNotFound) {
			t.Errorf("%s: %v, want a missing plugin", what, err)
			return
		}
		for _, p := range append(parts, bin, `"bridge"`, "install containernetworking-plugins") {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("%s: %q does not mention %q", what, err, p)
			}
		}
	}
	want("Validate", n.Validate(ctx), "to attach a pod")
	path := filepath.Join(t.TempDir(), "netns")
	_, err = n.Setup(ctx, "nopods", path, nil)
	want("Setup", err, "to attach a pod")
	want("Remove", n.Remove(ctx, "nopods", path, nil), "to remove pod nopods")
}

func TestDefaultConfWrittenUnderStateDir(t *testing.T) {
	requirePlugins(t)
	stateDir := t.TempDir()
	current := cni.Config{StateDir: stateDir, DefaultNetVersion: cni.DefaultNetVersion}
	if _, err := cni.New(current); err != nil {
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
	for _, s := range []string{`"cniVersion": "1.0.0"`, `"bridge": "compod0"`, `"subnet": "10.89.0.0/16"`, `"dst": "0.0.0.0/0"`, `"portMappings": true`, `"snat": true`, `"hairpinMode": true`, `"isGateway": true`, cni.DefaultIPAMDir} {
		if !bytes.Contains(got, []byte(s)) {
			t.Errorf("default conflist lacks %s", s)
		}
	}
	// NAT and FORWARD are host-wide rules of compod's (defaultrules.go),
	// not per-pod rules of the plugins.
	for _, s := range []string{`"ipMasq"`, `"firewall"`} {
		if bytes.Contains(got, []byte(s)) {
			t.Errorf("default conflist has %s", s)
		}
	}
	if err := os.WriteFile(file, []byte(`{"cniVersion":"1.0.0","name":"compod","plugins":[{"type":"loopback"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// A pod attached with the first conflist (a record that names no
	// version) is removed with it; it is not written out.
	legacy, err := cni.New(cni.Config{StateDir: stateDir})
	if err != nil {
		t.Fatalf("New of version 0: %v", err)
	}
	if plugins := pluginTypes(t, legacy); !slices.Equal(plugins, []string{"bridge", "portmap", "firewall"}) {
		t.Errorf("default network version 0 runs %v, want bridge, portmap, firewall", plugins)
	}
	n, err := cni.New(current)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if plugins := pluginTypes(t, n); !slices.Equal(plugins, []string{"bridge", "portmap"}) {
		t.Errorf("default network runs %v, want bridge, portmap", plugins)
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

// pluginTypes are the plugin types of n's conflist, in order.
func pluginTypes(t *testing.T, n *cni.Network) []string {
	t.Helper()
	var list struct {
		Plugins []struct {
			Type string `json:"type"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(n.ConfListBytes(), &list); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range list.Plugins {
		out = append(out, p.Type)
	}
	return out
}
