package main_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/defaults"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// config prints the merged, interpolated model (two files, .env, an
// env_file) in yaml and json, without containerd (the address points
// nowhere). Paths are absolute in the output; the golden files have
// PROJECT_DIR in their place.
func TestConfigGolden(t *testing.T) {
	bin := testenv.CompodBinary(t)
	dir, err := filepath.Abs("testdata/config")
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"yaml", "json"} {
		t.Run(format, func(t *testing.T) {
			out, errOut, code := runBinary(t, bin, "config", "--address", "/nonexistent/containerd.sock",
				"-f", filepath.Join(dir, "compose.yaml"), "-f", filepath.Join(dir, "override.yaml"), "--format", format)
			if code != 0 {
				t.Fatalf("config --format %s: exit %d: %s", format, code, errOut)
			}
			got := strings.ReplaceAll(out, dir, "PROJECT_DIR")
			golden := filepath.Join(dir, "config.golden."+format)
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v: run go test ./cmd/compod -run TestConfigGolden -update", err)
			}
			if got != string(want) {
				t.Errorf("config --format %s differs from %s (run with -update to accept):\n%s", format, golden, got)
			}
		})
	}
}

// A model up would refuse is an error naming the field; a bad --format
// is a usage error.
func TestConfigErrors(t *testing.T) {
	bin := testenv.CompodBinary(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(f, []byte("services:\n  web:\n    image: x\n    privileged: maybe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runBinary(t, bin, "config", "-f", f, "-p", "cfgbad")
	if code != 1 || !strings.Contains(errOut, "privileged") {
		t.Errorf("config of a bad file: exit %d, %q; want 1 naming privileged", code, errOut)
	}
	_, errOut, code = runBinary(t, bin, "config", "-f", "testdata/config/compose.yaml", "--format", "toml")
	if code != 2 || !strings.Contains(errOut, `--format "toml"`) {
		t.Errorf("config --format toml: exit %d, %q; want 2", code, errOut)
	}
	_, errOut, code = runBinary(t, bin, "config", "-f", "testdata/config/compose.yaml", "--oci", "web", "--address", "/nonexistent/containerd.sock")
	if code != 1 || !strings.Contains(errOut, "unreachable") {
		t.Errorf("config --oci without containerd: exit %d, %q; want 1 saying containerd is unreachable", code, errOut)
	}
}

// --oci prints the spec up would give a service: the image's entrypoint
// with the compose command, compose's environment over the image's, the
// named volume's directory under the state dir, and cap_drop applied.
func TestConfigOCI(t *testing.T) {
	c := newCLI(t)
	c.write("compose.yaml", fmt.Sprintf(`
name: cfgpull-oci
services:
  web:
    image: %s
    command: ["-listen", ":8080"]
    environment:
      GREETING: hi
    volumes: [data:/data]
    cap_drop: [NET_RAW]
    cap_add: [SYS_TIME]
  sidecar:
    image: %s
    command: ["sleep", "3600"]
volumes:
  data: {}
`, testenv.TestappRef, testenv.BusyboxRef))
	out, errOut, code := c.run("config", "--oci", "web")
	if code != 0 {
		t.Fatalf("config --oci web: exit %d: %s", code, errOut)
	}
	var s specs.Spec
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("config --oci printed no OCI spec: %v\n%s", err, out)
	}
	if want := []string{"/testapp", "-listen", ":8080"}; !slices.Equal(s.Process.Args, want) {
		t.Errorf("process args %q, want %q", s.Process.Args, want)
	}
	if !slices.Contains(s.Process.Env, "GREETING=hi") || !slices.ContainsFunc(s.Process.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		t.Errorf("env %q: want GREETING=hi and the image's PATH", s.Process.Env)
	}
	vol := filepath.Join(c.stateDir, "volumes", "cfgpull-oci_data") // named volumes outlive the pod
	inst := runtime.InstanceID(c.stateDir, testenv.Namespace)
	if !slices.ContainsFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/data" && m.Source == vol && m.Type == "bind" }) {
		t.Errorf("no bind of %s on /data in mounts %+v", vol, s.Mounts)
	}
	caps := s.Process.Capabilities.Bounding
	if slices.Contains(caps, "CAP_NET_RAW") || !slices.Contains(caps, "CAP_SYS_TIME") || !slices.Contains(caps, "CAP_CHOWN") {
		t.Errorf("bounding capabilities %q: want docker's defaults minus CAP_NET_RAW plus CAP_SYS_TIME", caps)
	}
	wantNS := map[specs.LinuxNamespaceType]string{
		specs.NetworkNamespace: "/run/netns/compod-" + inst + "-cfgpull-oci",
		specs.IPCNamespace:     "/proc/PAUSE_PID/ns/ipc",
	}
	for _, ns := range s.Linux.Namespaces {
		if want, ok := wantNS[ns.Type]; ok && ns.Path != want {
			t.Errorf("%s namespace %q, want %q", ns.Type, ns.Path, want)
		}
	}
	if !strings.HasSuffix(s.Linux.CgroupsPath, "/"+inst+"-cfgpull-oci/web") {
		t.Errorf("cgroups path %q, want the pod's cgroup/web", s.Linux.CgroupsPath)
	}

	// An unknown service is named, with the pod's services.
	_, errOut, code = c.run("config", "--oci", "nope")
	if code != 1 || !strings.Contains(errOut, `"nope"`) || !strings.Contains(errOut, "web, sidecar") && !strings.Contains(errOut, "sidecar, web") {
		t.Errorf("config --oci nope: exit %d, %q; want 1 naming nope and the services", code, errOut)
	}
	// A missing image says how to get it.
	c.write("compose.yaml", "name: cfgpull-oci2\nservices:\n  ghost:\n    image: compod.test/not-here:1\n")
	_, errOut, code = c.run("config", "--oci", "ghost")
	if code != 1 || !strings.Contains(errOut, "compod.test/not-here:1") || !strings.Contains(errOut, "pull it first") {
		t.Errorf("config --oci of a missing image: exit %d, %q; want 1 saying to pull it first", code, errOut)
	}
	// Nothing was left in containerd: no container, no snapshot of the pod.
	cl, ctx := testenv.Client(t), testenv.Context(t)
	ctrs, err := cl.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ctr := range ctrs {
		if strings.Contains(ctr.ID(), "cfgpull-oci") {
			t.Errorf("config --oci left container %s", ctr.ID())
		}
	}
	err = cl.SnapshotService(defaults.DefaultSnapshotter).Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if strings.Contains(info.Name, "cfgpull-oci") {
			t.Errorf("config --oci left snapshot %s", info.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
