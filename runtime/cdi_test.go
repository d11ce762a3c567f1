package runtime_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// A device by CDI name gets what the host's CDI spec says (here a device
// node backed by /dev/zero, at another path, and an environment
// variable), read from inside the service; a name no spec defines (a GPU
// on a host without NVIDIA's spec) fails the launch naming it and the
// spec dirs, and nothing is left.
func TestCDIDevices(t *testing.T) {
	specDir := t.TempDir()
	spec := `cdiVersion: "0.6.0"
kind: compod.test/device
devices:
  - name: zero
    containerEdits:
      deviceNodes:
        - path: /dev/cdizero
          hostPath: /dev/zero
      env: ["CDI_DEVICE=zero"]
`
	if err := os.WriteFile(filepath.Join(specDir, "compod-test.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("COMPOD_CDI_SPEC_DIRS", specDir)
	h := newHarness(t)
	plan := h.compose("cdidev", fmt.Sprintf(`
services:
  app:
    image: %s
    command: ["sh", "-c", "busybox head -c 4 /dev/cdizero | busybox od -An -tx1; echo device=$$CDI_DEVICE; echo probe-done; exec busybox sleep 3600"]
    devices: ["compod.test/device=zero"]
`, testenv.BusyboxRef), nil)
	h.up(plan)
	logs := h.logsUntil("cdidev", "app", "probe-done")
	if !strings.Contains(logs, "00 00 00 00") || !strings.Contains(logs, "device=zero") {
		t.Errorf("the CDI device's node and environment are not in the service:\n%s", logs)
	}
	h.down("cdidev")

	gpu := h.compose("cdigpu", fmt.Sprintf("services:\n  train:\n    image: %s\n    command: [\"sleep\", \"60\"]\n    gpus: all\n", testenv.BusyboxRef), nil)
	_, err := h.eng.Up(h.ctx, gpu, runtime.UpOptions{})
	wantErr(t, err, `service "train": field "devices"`, "nvidia.com/gpu=all", specDir, "nvidia-ctk cdi generate")
	h.assertNoLeak()
}
