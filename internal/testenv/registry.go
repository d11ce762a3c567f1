package testenv

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes/docker"
)

// Registry returns the loopback registry's address (hack/registry.sh):
// $COMPOD_TEST_REGISTRY or 127.0.0.1:5000. Without it the test is skipped,
// except under CI where that is a failure.
func Registry(t testing.TB) string {
	t.Helper()
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

// PushTestapp pushes TestappRef to the registry at addr under a new name
// (repository compod-test/testapp, tag pull-NANOS) that Namespace does not
// know afterwards, so a pod of that image has to pull it. The local name
// is removed again at cleanup, should a test pull it.
func PushTestapp(t testing.TB, c *client.Client, addr string) string {
	t.Helper()
	ctx := Context(t)
	ref := fmt.Sprintf("%s/compod-test/testapp:pull-%d", addr, time.Now().UnixNano())
	local, err := c.GetImage(ctx, TestappRef)
	if err != nil {
		t.Fatalf("the testapp image (EnsureImages first): %v", err)
	}
	is := c.ImageService()
	if _, err := is.Create(ctx, images.Image{Name: ref, Target: local.Target()}); err != nil {
		t.Fatal(err)
	}
	resolver := docker.NewResolver(docker.ResolverOptions{Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost))})
	if err := c.Push(ctx, ref, local.Target(), client.WithResolver(resolver)); err != nil {
		t.Fatalf("pushing to the test registry %s: %v", addr, err)
	}
	if err := is.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The test's context is cancelled by now.
		is.Delete(namespacesContext(), ref)
	})
	return ref
}
