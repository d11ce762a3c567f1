package runtime_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/compod/compod/internal/testenv"
)

// volumes_from shares the source's volumes (an anonymous one here), read-
// only with :ro.
func TestVolumesFromShared(t *testing.T) {
	h := newHarness(t)
	pod := "hooks-volumes-from"
	plan := h.compose(pod, fmt.Sprintf(`
services:
  writer:
    image: %[1]s
    volumes: [/data]
    command: ["sh", "-c", "echo shared-data > /data/f"]
  reader:
    image: %[1]s
    volumes_from: ["writer:ro"]
    depends_on:
      writer:
        condition: service_completed_successfully
    command: ["sh", "-c", "cat /data/f; touch /data/g 2>/dev/null && echo writable || echo read-only"]
`, testenv.BusyboxRef), nil)
	h.up(plan)
	defer h.down(pod)
	codes, err := h.eng.Wait(h.ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	out := h.logsOf(pod, "reader")
	if codes["reader"] != 0 || !strings.Contains(out, "shared-data") || !strings.Contains(out, "read-only") {
		t.Errorf("reader exited %d with %q, want the writer's data, read-only", codes["reader"], out)
	}
}
