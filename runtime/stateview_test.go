package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/compod/compod/translate"
)

// A state-dir view without containerd answers from the pods' records,
// with health and restarts as last recorded, and writes nothing. No root
// or containerd needed.
func TestOpenStateDirWithoutContainerd(t *testing.T) {
	ctx := context.Background()
	state := filepath.Join(t.TempDir(), "state")
	e, err := OpenStateDir(ctx, filepath.Join(t.TempDir(), "no-containerd.sock"), WithStateDir(state), WithNamespace("ns1"))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.ContainerdErr() == nil {
		t.Fatal("ContainerdErr is nil without a containerd")
	}
	if pods, err := e.Pods(ctx, ""); err != nil || len(pods) != 0 {
		t.Fatalf("Pods of an empty state dir: %v, %v", pods, err)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the view made the state dir: %v", err)
	}

	if err := os.MkdirAll(e.podDir("p1"), 0o700); err != nil {
		t.Fatal(err)
	}
	rec := &PodRecord{Namespace: "ns1", IP: "10.89.0.7", Plan: translate.PodPlan{Name: "p1", Services: []translate.ServiceSpec{{Name: "web", Image: "img"}}}}
	if err := e.writeRecord(rec); err != nil {
		t.Fatal(err)
	}
	// monitor.json as the pod's supervisor leaves it for other processes.
	mon := `{"health":{"web":{"status":"healthy","failingStreak":0}},"restarts":{"web":2}}`
	if err := os.WriteFile(filepath.Join(e.podDir("p1"), "monitor.json"), []byte(mon), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "p1"} {
		pods, err := e.Pods(ctx, name)
		if err != nil || len(pods) != 1 {
			t.Fatalf("Pods(%q): %+v, %v", name, pods, err)
		}
		p := pods[0]
		if p.Name != "p1" || p.State != StateUnknown || p.IP != "10.89.0.7" || len(p.Services) != 1 {
			t.Fatalf("Pods(%q): %+v", name, p)
		}
		if s := p.Services[0]; s.Name != "web" || s.State != StateUnknown || s.Health != HealthHealthy || s.Restarts != 2 {
			t.Errorf("Pods(%q): service %+v", name, s)
		}
	}
	if _, err := e.Pods(ctx, "p2"); !errors.Is(err, ErrPodNotFound) {
		t.Errorf("Pods of an unknown pod: %v", err)
	}
}
