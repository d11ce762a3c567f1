package runtime_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/compod/compod/internal/testenv"
)

// docker's `extra_hosts: ["host.docker.internal:host-gateway"]`: the name
// resolves, in the pod, to the host's address on the pod's network (its
// gateway), and a server listening on the host answers there.
func TestExtraHostsHostGateway(t *testing.T) {
	h := newHarness(t)
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "hello-from-the-host")
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("host server: %v", err)
		}
	})
	port := l.Addr().(*net.TCPAddr).Port

	plan := h.compose("hostgw", fmt.Sprintf(`
services:
  probe:
    image: %s
    command: ["sh", "-c", "busybox grep host.docker.internal /etc/hosts; busybox wget -qO- http://host.docker.internal:%d/; echo; echo probe-done; exec busybox sleep 3600"]
    extra_hosts: ["host.docker.internal:host-gateway"]
`, testenv.BusyboxRef, port), nil)
	rec := h.up(plan)
	gw := rec.Networks[0].Gateway
	if net.ParseIP(gw) == nil {
		t.Fatalf("the pod's network has no gateway in its record: %+v", rec.Networks)
	}
	logs := h.logsUntil("hostgw", "probe", "probe-done")
	if !strings.Contains(logs, gw+"\thost.docker.internal") {
		t.Errorf("/etc/hosts does not map host.docker.internal to the gateway %s:\n%s", gw, logs)
	}
	if !strings.Contains(logs, "hello-from-the-host") {
		t.Errorf("the host's server did not answer at host.docker.internal:\n%s", logs)
	}
	h.down("hostgw")
}
