package runtime_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/internal/testenv"
)

// network_mode: host runs the pod in the host's network namespace: the
// services see the host's interfaces, listen on the host's ports directly,
// and down has no network to release (the harness checks nothing leaks).
func TestNetworkModeHost(t *testing.T) {
	h := newHarness(t)
	const pod = "nethost-a"
	port := freeLoopbackPort(t)
	before := hostInterfaces(t)
	h.up(h.compose(pod, fmt.Sprintf(`
services:
  app:
    image: %s
    network_mode: host
    command: ["sh", "-c", "hostname; cat /proc/net/dev; echo end-of-list; mkdir -p /tmp/www && echo nethost-ok > /tmp/www/index.html && exec httpd -f -p 127.0.0.1:%d -h /tmp/www"]
`, testenv.BusyboxRef, port), nil))

	var out string
	waitFor(t, 10*time.Second, "the service listed its interfaces", func() (bool, string) {
		out = h.logsOf(pod, "app")
		return strings.Contains(out, "end-of-list"), out
	})
	seen := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok {
			seen[strings.TrimSpace(name)] = true
		}
	}
	// Interfaces other tests create and remove meanwhile are left out:
	// those the host had before and still has are what must be seen.
	after := hostInterfaces(t)
	for name := range before {
		if after[name] && !strings.HasPrefix(name, "veth") && !seen[name] {
			t.Errorf("the service does not see the host's interface %s:\n%s", name, out)
		}
	}
	if hn, err := os.Hostname(); err == nil && !strings.HasPrefix(out, hn+"\n") {
		t.Errorf("the service's hostname is not the host's %q:\n%s", hn, out)
	}

	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitFor(t, 10*time.Second, "the service answered on the host's "+url, func() (bool, string) {
		resp, err := http.Get(url)
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return err == nil && strings.TrimSpace(string(body)) == "nethost-ok", string(body)
	})

	st, err := h.eng.Status(h.ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if st.IP != "" || len(st.Networks) != 0 || st.NetNS != "" {
		t.Errorf("ps shows IP %q, networks %+v, netns %q for a pod in the host's network", st.IP, st.Networks, st.NetNS)
	}
	h.down(pod)
}

// hostInterfaces are the interface names of this process's network
// namespace (the host's: containerd's).
func hostInterfaces(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok {
			out[strings.TrimSpace(name)] = true
		}
	}
	return out
}
