package runtime_test

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes/docker"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// registry returns the loopback registry's address (hack/registry.sh).
func registry(t *testing.T) string {
	addr := os.Getenv("COMPOD_TEST_REGISTRY")
	if addr == "" {
		addr = "127.0.0.1:5000"
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no registry at %s (hack/registry.sh start): %v", addr, err)
		}
		t.Skipf("no registry at %s: run hack/registry.sh start", addr)
	}
	c.Close()
	return addr
}

// A missing image is pulled from a (plain HTTP, loopback) registry.
func TestPullMissingImageFromRegistry(t *testing.T) {
	addr := registry(t)
	h := newHarness(t)
	ref := fmt.Sprintf("%s/compod-test/testapp:pull-%d", addr, time.Now().UnixNano())
	local, err := h.client.GetImage(h.ctx, testenv.TestappRef)
	if err != nil {
		t.Fatal(err)
	}
	is := h.client.ImageService()
	if _, err := is.Create(h.ctx, images.Image{Name: ref, Target: local.Target()}); err != nil {
		t.Fatal(err)
	}
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost))})
	if err := h.client.Push(h.ctx, ref, local.Target(), client.WithResolver(resolver)); err != nil {
		t.Fatalf("pushing to the test registry: %v", err)
	}
	// Forget the name locally, so up has to pull it.
	if err := is.Delete(h.ctx, ref); err != nil {
		t.Fatal(err)
	}
	defer is.Delete(h.ctx, ref)

	pod := "pulled"
	h.up(h.compose(pod, fmt.Sprintf(`
services:
  web:
    image: %s
    command: ["-listen", ":8080"]
`, ref), nil))
	defer h.down(pod)
	if _, err := h.client.GetImage(h.ctx, ref); err != nil {
		t.Errorf("the image was not pulled: %v", err)
	}
	st, _ := h.eng.Status(h.ctx, pod)
	if st.Services[0].State != runtime.StateRunning {
		t.Errorf("service is %s, want running", st.Services[0].State)
	}

	// An image the registry does not have fails fast, naming the service.
	plan := h.compose("pullmissing", fmt.Sprintf(`
services:
  ghost:
    image: %s/compod-test/nothing:here
`, addr), nil)
	start := time.Now()
	_, err = h.eng.Up(h.ctx, plan, runtime.UpOptions{})
	wantErr(t, err, `service "ghost"`, "nothing:here")
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a missing image took %v to fail: not found must not be retried", took)
	}
}
