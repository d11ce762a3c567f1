package runtime_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/internal/imagebuild"
	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

// A 3-service pod: a web server published on 127.0.0.1, a writer and a
// reader sharing a named volume, the reader also fetching the web server
// over localhost by service name.
func TestPodServicesShareNetworkAndVolume(t *testing.T) {
	h := newHarness(t)
	port := freeLoopbackPort(t)
	pod := "threesvc"
	plan := h.compose(pod, fmt.Sprintf(`
services:
  web:
    image: %[1]s
    container_name: frontend
    command: ["-listen", ":8080"]
    environment:
      TESTAPP_GREETING: hello-from-web
    ports:
      - "127.0.0.1:%[3]d:8080"
  writer:
    image: %[2]s
    command: ["sh", "-c", "echo hello-from-writer > /data/msg; exec sleep 3600"]
    volumes: ["shared:/data"]
  reader:
    image: %[2]s
    depends_on: [writer, web]
    command: ["sh", "-c", "until [ -f /data/msg ]; do sleep 0.1; done; cat /data/msg; until wget -qO- http://web:8080/; do sleep 0.2; done; echo; wget -qO- http://frontend:8080/ && echo; echo reader-done; exec sleep 3600"]
    volumes: ["shared:/data:ro"]
volumes:
  shared: {}
`, testenv.TestappRef, testenv.BusyboxRef, port), nil)
	rec := h.up(plan)
	defer h.down(pod)

	if net.ParseIP(rec.IP) == nil {
		t.Fatalf("pod IP %q is not an IP", rec.IP)
	}
	// From the host, through the published port.
	var body string
	waitFor(t, 15*time.Second, "web through the published port", func() (bool, string) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200, resp.Status
	})
	if !strings.Contains(body, "hello-from-web") {
		t.Errorf("published port answered %q, want the web service's greeting", body)
	}
	// From inside the pod, over localhost, and through the shared volume.
	waitFor(t, 20*time.Second, "reader output", func() (bool, string) {
		out := h.logsOf(pod, "reader")
		return strings.Contains(out, "reader-done"), out
	})
	out := h.logsOf(pod, "reader")
	if !strings.Contains(out, "hello-from-writer") || strings.Count(out, "hello-from-web") != 2 {
		t.Errorf("reader output %q: want the writer's file and the web page, by service name and by container_name", out)
	}
	st, err := h.eng.Status(h.ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != runtime.PhaseRunning || st.IP != rec.IP || len(st.Services) != 3 {
		t.Errorf("status = %+v, want running with IP %s and 3 services", st, rec.IP)
	}
	for _, s := range st.Services {
		if s.State != runtime.StateRunning || s.PID == 0 {
			t.Errorf("service %s: state %s pid %d, want running", s.Name, s.State, s.PID)
		}
	}
	// The pinned netns is visible to operators.
	nsList, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns: %v %s", err, nsList)
	}
	if want := "compod-" + h.eng.Instance() + "-" + pod; !strings.Contains(string(nsList), want) {
		t.Errorf("ip netns list = %q, want %s", nsList, want)
	}
	// Every container is labelled with its pod and service.
	ctrs, err := h.client.Containers(h.ctx, `labels."compod.pod"==`+pod)
	if err != nil {
		t.Fatal(err)
	}
	if len(ctrs) != 4 { // pause + 3 services
		t.Errorf("%d containers labelled with the pod, want 4", len(ctrs))
	}
}

// Compose's command, entrypoint, environment, env_file, user and
// working_dir, as the process inside sees them.
func TestServiceProcessSettings(t *testing.T) {
	h := newHarness(t)
	pod := "procsettings"
	plan := h.compose(pod, fmt.Sprintf(`
services:
  probe:
    image: %s
    entrypoint: ["/bin/sh", "-c"]
    command: ["echo uid=$$(id -u) gid=$$(id -g) cwd=$$(pwd) foo=$$FOO file=$$FROM_FILE host=$$(hostname); cat /etc/hosts"]
    user: "1000:1000"
    working_dir: /tmp
    hostname: probehost
    environment:
      FOO: bar
    env_file: [vars.env]
`, testenv.BusyboxRef), map[string]string{"vars.env": "FROM_FILE=from-env-file\n"})
	h.up(plan)
	defer h.down(pod)
	codes, err := h.eng.Wait(h.ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if codes["probe"] != 0 {
		t.Fatalf("probe exited %d: %s", codes["probe"], h.logsOf(pod, "probe"))
	}
	out := h.logsOf(pod, "probe")
	want := "uid=1000 gid=1000 cwd=/tmp foo=bar file=from-env-file host=probehost"
	if !strings.Contains(out, want) {
		t.Errorf("probe printed %q, want %q", out, want)
	}
	if !strings.Contains(out, "probe") || !strings.Contains(out, "localhost") {
		t.Errorf("/etc/hosts %q does not name the services", out)
	}
	st, _ := h.eng.Status(h.ctx, pod)
	if st.State != runtime.PhaseFinished || st.Services[0].ExitCode == nil || *st.Services[0].ExitCode != 0 {
		t.Errorf("status after exit = %+v, want finished with exit code 0", st)
	}
}

// A service that ignores SIGTERM is killed when its grace period ends, not
// before and not much after; a well-behaved one stops at once.
func TestStopGracePeriod(t *testing.T) {
	h := newHarness(t)
	pod := "grace"
	const grace = 2 * time.Second
	plan := h.compose(pod, fmt.Sprintf(`
services:
  stubborn:
    image: %[1]s
    command: ["-ignore-sigterm", "-listen", ":8081"]
    stop_grace_period: 2s
`, testenv.TestappRef), nil)
	h.up(plan)
	time.Sleep(300 * time.Millisecond) // let it install its signal handler
	start := time.Now()
	if err := h.eng.Down(h.ctx, pod, runtime.DownOptions{}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	h.assertNoLeak()
	if took < grace || took > grace+1500*time.Millisecond {
		t.Errorf("down took %v, want between %v and %v", took, grace, grace+1500*time.Millisecond)
	}

	pod = "polite"
	plan = h.compose(pod, fmt.Sprintf(`
services:
  polite:
    image: %s
    command: ["-listen", ":8082"]
    stop_grace_period: 10s
`, testenv.TestappRef), nil)
	h.up(plan)
	time.Sleep(300 * time.Millisecond)
	start = time.Now()
	if err := h.eng.Down(h.ctx, pod, runtime.DownOptions{}); err != nil {
		t.Fatal(err)
	}
	h.assertNoLeak()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("down of a service that exits on SIGTERM took %v", took)
	}
}

// Launches that fail roll back everything and say what failed where.
func TestFailedLaunchRollsBack(t *testing.T) {
	h := newHarness(t)

	t.Run("missing image", func(t *testing.T) {
		plan := h.compose("noimage", `
services:
  ghost:
    image: compod.test/does-not-exist:1
`, nil)
		_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{Pull: runtime.PullNever})
		wantErr(t, err, `service "ghost"`, `"image"`, "compod.test/does-not-exist:1")
		h.assertNoLeak()
	})

	// The image comes from an override file: the error names that file,
	// as translate's errors do, not the file that defines the service.
	t.Run("missing image set by an override", func(t *testing.T) {
		dir := t.TempDir()
		files := map[string]string{
			"compose.yaml":          "services:\n  ghost:\n    image: compod.test/busybox:1\n    command: [\"sleep\", \"60\"]\n",
			"compose.override.yaml": "services:\n  ghost:\n    image: compod.test/does-not-exist:2\n",
		}
		var paths []string
		for _, name := range []string{"compose.yaml", "compose.override.yaml"} {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
		plan, err := translate.Load(h.ctx, translate.LoadOptions{Files: paths, ProjectName: "noimage2"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.eng.Up(h.ctx, plan, runtime.UpOptions{Pull: runtime.PullNever})
		wantErr(t, err, `compose.override.yaml: service "ghost": field "image"`, "compod.test/does-not-exist:2")
		h.assertNoLeak()
	})

	t.Run("port taken", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		port := l.Addr().(*net.TCPAddr).Port
		plan := h.compose("porttaken", fmt.Sprintf(`
services:
  web:
    image: %s
    command: ["-listen", ":8080"]
    ports: ["127.0.0.1:%d:8080"]
`, testenv.TestappRef, port), nil)
		_, err = h.eng.Up(h.ctx, plan, runtime.UpOptions{})
		wantErr(t, err, `service "web"`, `"ports"`, fmt.Sprint(port))
		h.assertNoLeak()
	})

	t.Run("service fails to start", func(t *testing.T) {
		plan := h.compose("badcmd", fmt.Sprintf(`
services:
  ok:
    image: %[1]s
    command: ["sleep", "3600"]
  broken:
    image: %[1]s
    depends_on: [ok]
    entrypoint: ["/no/such/binary"]
`, testenv.BusyboxRef), nil)
		_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{})
		wantErr(t, err, `service "broken"`)
		h.assertNoLeak()
	})

	t.Run("dependency never completes", func(t *testing.T) {
		plan := h.compose("depfail", fmt.Sprintf(`
services:
  init:
    image: %[1]s
    command: ["sh", "-c", "exit 4"]
  app:
    image: %[1]s
    command: ["sleep", "3600"]
    depends_on:
      init:
        condition: service_completed_successfully
`, testenv.BusyboxRef), nil)
		_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{})
		wantErr(t, err, `service "app"`, `"init"`, "code 4")
		h.assertNoLeak()
	})
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

// The image's STOPSIGNAL is what stops a service whose compose file names
// no stop_signal (docker's order: stop_signal, STOPSIGNAL, SIGTERM).
func TestImageStopSignal(t *testing.T) {
	h := newHarness(t)
	// testapp that exits on SIGINT and, with -ignore-sigterm, not on SIGTERM.
	const ref = "compod.test/testapp-stopsignal:1"
	archive, err := testenv.TestappArchive(ref, testenv.BuildBinary(t, "./test/testapp"),
		func(c *imagebuild.Config) { c.StopSignal = "SIGINT" })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := imagebuild.Import(h.ctx, h.client, ref, archive); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.client.ImageService().Delete(h.ctx, ref) })

	for _, tt := range []struct {
		pod, stopSignal string
		wantSlow        bool // stopped only by SIGKILL at the end of the grace
	}{
		{pod: "stopsig-image", wantSlow: false},
		{pod: "stopsig-compose", stopSignal: "    stop_signal: SIGTERM\n", wantSlow: true},
	} {
		const grace = 2 * time.Second
		plan := h.compose(tt.pod, fmt.Sprintf(`
services:
  app:
    image: %s
    command: ["-ignore-sigterm", "-listen", ":8084"]
    stop_grace_period: 2s
%s`, ref, tt.stopSignal), nil)
		h.up(plan)
		waitFor(t, 10*time.Second, "testapp listening", func() (bool, string) {
			out := h.logsOf(tt.pod, "app")
			return strings.Contains(out, "listening"), out
		})
		start := time.Now()
		if err := h.eng.Down(h.ctx, tt.pod, runtime.DownOptions{}); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if slow := took >= grace; slow != tt.wantSlow {
			t.Errorf("%s: down took %v (grace %v); want stopped by the grace's SIGKILL: %v", tt.pod, took, grace, tt.wantSlow)
		}
	}
	h.assertNoLeak()
}

// A published port without a host port ("8080") gets one assigned at
// launch, and it is that port the pod answers on from the host.
func TestAssignedHostPort(t *testing.T) {
	h := newHarness(t)
	const pod = "assignedport"
	rec := h.up(h.compose(pod, fmt.Sprintf(`
services:
  web:
    image: %s
    command: ["-listen", ":8080"]
    ports: ["127.0.0.1::8080"]
`, testenv.TestappRef), nil))
	defer h.down(pod)
	if len(rec.Ports) != 1 || rec.Ports[0].HostPort == 0 {
		t.Fatalf("ports %+v: want one with a host port assigned", rec.Ports)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", rec.Ports[0].HostPort)
	waitFor(t, 15*time.Second, "the web service on the assigned port", func() (bool, string) {
		resp, err := http.Get(url)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
}
