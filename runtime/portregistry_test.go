package runtime

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compod/compod/translate"
)

// registryEngine is an engine as far as the port registry goes: an
// instance (state dir, namespace) and the shared registry dir.
func registryEngine(t *testing.T, registry, ns string) *Engine {
	t.Helper()
	e := &Engine{namespace: ns, stateDir: t.TempDir(), portRegistry: registry, log: slog.New(slog.DiscardHandler)}
	e.instance = InstanceID(e.stateDir, e.namespace)
	if err := os.MkdirAll(e.podsDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	return e
}

func claimOwner(t *testing.T, registry, name string) string {
	t.Helper()
	c, err := readClaim(filepath.Join(registry, name))
	if err != nil {
		t.Fatalf("claim %s: %v", name, err)
	}
	return c.StateDir + " " + c.Pod
}

// One host port, two instances: a claim holds while its pod is being
// launched (no record yet, its mutation lock held) or exists (its record
// publishes the port), and is taken over once the pod is gone (no record,
// or no state dir at all, or an unreadable claim).
func TestPortRegistryClaims(t *testing.T) {
	registry := t.TempDir()
	a := registryEngine(t, registry, "ns-a")
	b := registryEngine(t, registry, "ns-b")
	web := translate.PortMapping{Service: "web", HostPort: 18080, ContainerPort: 80, Protocol: "tcp"}
	claim := func(e *Engine, pod string) error {
		t.Helper()
		unlock, err := e.lockPortRegistry()
		if err != nil {
			t.Fatal(err)
		}
		defer unlock()
		return e.claimPort(pod, web)
	}

	// a's launch claims the port and has not written its record yet.
	lock, err := a.tryLockPod("shop")
	if err != nil {
		t.Fatal(err)
	}
	if err := claim(a, "shop"); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	err = claim(b, "shop")
	if err == nil || !strings.Contains(err.Error(), `host port 18080/tcp is already published by pod "shop"`) ||
		!strings.Contains(err.Error(), a.stateDir) || !strings.Contains(err.Error(), `"ns-a"`) {
		t.Fatalf("b's claim during a's launch: %v, want refused naming a's pod, state dir and namespace", err)
	}
	// a's pod runs: its record publishes the port.
	if err := os.MkdirAll(a.podDir("shop"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := a.writeRecord(&PodRecord{Plan: translate.PodPlan{Name: "shop"}, Namespace: "ns-a", Ports: []translate.PortMapping{web}}); err != nil {
		t.Fatal(err)
	}
	lock.unlock()
	if err := claim(b, "other"); err == nil {
		t.Fatal("b claimed a port a's running pod publishes")
	}
	// a claims it again for the same pod (a relaunch): its own claim.
	if err := claim(a, "shop"); err != nil {
		t.Fatalf("a's claim of its own pod's port: %v", err)
	}

	// a's pod is removed without releasing (a compod killed in down):
	// the claim is stale, b takes it over.
	if err := os.RemoveAll(a.podDir("shop")); err != nil {
		t.Fatal(err)
	}
	if err := claim(b, "shop"); err != nil {
		t.Fatalf("b's claim of a stale port: %v", err)
	}
	if got, want := claimOwner(t, registry, "tcp-18080"), b.stateDir+" shop"; got != want {
		t.Errorf("claim is %q, want %q", got, want)
	}

	// a may not release b's claim; b's release removes it.
	if err := a.releasePodPorts("shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(registry, "tcp-18080")); err != nil {
		t.Errorf("a released b's claim: %v", err)
	}
	if err := b.releasePodPorts("shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(registry, "tcp-18080")); !os.IsNotExist(err) {
		t.Errorf("b's claim after its release: %v", err)
	}

	// A claim of an instance whose state dir is gone, and one that was
	// never written, are taken over.
	c := registryEngine(t, registry, "ns-c")
	if err := claim(c, "shop"); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(c.stateDir); err != nil {
		t.Fatal(err)
	}
	if err := claim(a, "shop"); err != nil {
		t.Fatalf("claim of a port whose instance is gone: %v", err)
	}
	if err := os.WriteFile(filepath.Join(registry, "udp-53"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	unlock, err := a.lockPortRegistry()
	if err != nil {
		t.Fatal(err)
	}
	err = a.claimPort("dns", translate.PortMapping{Service: "dns", HostPort: 53, Protocol: "udp"})
	unlock()
	if err != nil {
		t.Fatalf("claim over an empty claim file: %v", err)
	}
	if err := a.releasePodPorts("shop"); err != nil {
		t.Fatal(err)
	}
	if err := a.releasePodPorts("dns"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(registry); len(ents) != 1 || ents[0].Name() != portRegistryLock {
		t.Errorf("registry after every release: %v, want only its lock", ents)
	}
}

// The instance id depends on the state dir (however it is spelled) and
// the namespace, and on nothing else.
func TestInstanceID(t *testing.T) {
	dir := t.TempDir()
	if InstanceID(dir, "compod") != InstanceID(dir+"/", "compod") || InstanceID(dir, "compod") != InstanceID(dir+"/x/..", "compod") {
		t.Error("one state dir spelled two ways gives two instance ids")
	}
	if InstanceID(dir, "compod") == InstanceID(dir, "other") || InstanceID(dir, "compod") == InstanceID(t.TempDir(), "compod") {
		t.Error("two instances share an id")
	}
	if len(InstanceID(dir, "compod")) != instanceIDLen {
		t.Errorf("instance id %q", InstanceID(dir, "compod"))
	}
}
