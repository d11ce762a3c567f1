package runtime_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/internal/testenv"
)

// network_mode: none gives the pod a network namespace with loopback only:
// no CNI attachment, nothing to tear down but the namespace.
func TestNetworkModeNone(t *testing.T) {
	h := newHarness(t)
	const pod = "netnone"
	h.up(h.compose(pod, fmt.Sprintf(`
services:
  app:
    image: %s
    network_mode: none
    command: ["sh", "-c", "cat /proc/net/dev; ip -o addr; sleep 600"]
`, testenv.BusyboxRef), nil))
	var out string
	waitFor(t, 10*time.Second, "the service listed its interfaces", func() (bool, string) {
		out = h.logsOf(pod, "app")
		return strings.Contains(out, " lo "), out
	})
	// /proc/net/dev and `ip -o addr` name one interface per line.
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(strings.ReplaceAll(line, ":", " ")); len(f) > 1 && (strings.HasPrefix(f[0], "eth") || strings.HasPrefix(f[1], "eth")) {
			t.Errorf("an interface besides loopback: %q", line)
		}
	}
	if !strings.Contains(out, "127.0.0.1") {
		t.Errorf("loopback is not up:\n%s", out)
	}
	st, err := h.eng.Status(h.ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if st.IP != "" || len(st.Networks) != 0 {
		t.Errorf("ps shows IP %q, networks %+v for a pod without network", st.IP, st.Networks)
	}
	h.down(pod)
}
