package runtime_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// syncBuffer is a bytes.Buffer that a logger may write from several
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Two services whose image exposes the same port (the test app's 8080):
// up warns, naming the port, both services and the image, though the pod
// runs (their commands moved one server to another port). A service that
// exposes a port no other claims is no warning.
func TestPortClashWarned(t *testing.T) {
	var logs syncBuffer
	h := newHarness(t, runtime.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	plan := h.compose("portclash", fmt.Sprintf(`
services:
  one:
    image: %[1]s
    command: ["-listen", ":8080"]
  two:
    image: %[1]s
    command: ["-listen", ":8081"]
`, testenv.TestappRef), nil)
	h.up(plan)
	h.down("portclash")
	out := logs.String()
	for _, want := range []string{"container port 8080/tcp is claimed by several services", "one (its image " + testenv.TestappRef, "two (its image"} {
		if !strings.Contains(out, want) {
			t.Errorf("up's log does not say %q:\n%s", want, out)
		}
	}

	logs.Reset()
	single := h.compose("portsingle", fmt.Sprintf("services:\n  one:\n    image: %s\n    ports: [\"8080\"]\n", testenv.TestappRef), nil)
	h.up(single)
	h.down("portsingle")
	if out := logs.String(); strings.Contains(out, "claimed by several services") {
		t.Errorf("a port that one service claims twice (ports, its image) was warned about:\n%s", out)
	}
}
