// Package testenv gives integration tests a private containerd (started by
// `hack/containerd.sh start`), its namespace, and images built from this
// repository: nothing is ever pulled.
package testenv

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

const (
	// Namespace is the containerd namespace every test uses.
	Namespace = "compod-test"
	// BusyboxRef is a busybox image (Debian's busybox-static, every applet
	// linked, /etc/passwd with root, app (1000) and nobody, /tmp).
	BusyboxRef = "compod.test/busybox:1"
	// TestappRef is test/testapp as /testapp, the entrypoint.
	TestappRef = "compod.test/testapp:1"

	// DefaultAddress is where hack/containerd.sh puts the private containerd.
	DefaultAddress = "/run/compod-test/containerd.sock"
)

// Address is the private containerd's socket: $COMPOD_TEST_CONTAINERD or
// DefaultAddress.
func Address() string {
	if a := os.Getenv("COMPOD_TEST_CONTAINERD"); a != "" {
		return a
	}
	return DefaultAddress
}

// Client connects to the private containerd and closes the connection at
// cleanup. Without root or without the daemon the test is skipped, except
// under CI (CI set) where that is a failure.
func Client(t testing.TB) *client.Client {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	if os.Geteuid() != 0 {
		unavailable("integration test needs root and the private containerd: run as root after `hack/containerd.sh start`")
	}
	addr := Address()
	if _, err := os.Stat(addr); err != nil {
		unavailable("no containerd at %s (%v): run `hack/containerd.sh start` first", addr, err)
	}
	c, err := client.New(addr, client.WithTimeout(10*time.Second))
	if err != nil {
		unavailable("connecting to containerd at %s: %v: run `hack/containerd.sh start` first", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Context is a context in Namespace, cancelled at the test's cleanup.
func Context(t testing.TB) context.Context { return ContextIn(t, Namespace) }

// ContextIn is a context in namespace ns, cancelled at the test's cleanup.
func ContextIn(t testing.TB, ns string) context.Context {
	ctx, cancel := context.WithCancel(namespaces.WithNamespace(context.Background(), ns))
	t.Cleanup(cancel)
	return ctx
}

// namespacesContext is a background context in Namespace, for cleanups
// that run after Context's is cancelled.
func namespacesContext() context.Context {
	return namespaces.WithNamespace(context.Background(), Namespace)
}
