package executor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/internal/testenv"
)

// neverPushed is an image no registry has: had the refused pod got as far
// as pulling, it would fail with another reason than TASK_INVALID.
const neverPushed = "127.0.0.1:5000/compod-policy-never-pushed:1"

// TestE2EPolicy: under the default policy of a shared agent a privileged
// service and a bind mount of / are refused before anything is created
// (TASK_FAILED, REASON_TASK_INVALID, every violation listed; the leak
// check of the cleanup finds nothing); an operator's config that allows
// them runs the same kind of pod.
func TestE2EPolicy(t *testing.T) {
	t.Run("default refuses", func(t *testing.T) {
		e := newE2E(t, e2eOpts{})
		compose := fmt.Sprintf(`services:
  web:
    image: %[1]s
    command: ["sleep", "60"]
    privileged: true
  side:
    image: %[1]s
    command: ["sleep", "60"]
    cap_add: [NET_ADMIN]
    volumes: ["/:/host", "./data:/data"]
`, neverPushed)
		task := taskInfo("policy-refused", []string{"docker-compose.yml"}, nil)
		ex := e.launch(task, map[string]string{"docker-compose.yml": compose, "data/x": "x"})
		st := waitState(t, ex, task.TaskID.Value, mesos.TASK_FAILED, 20*time.Second)
		msg := st.GetMessage()
		t.Logf("TASK_FAILED: %s", msg)
		if st.GetReason() != mesos.REASON_TASK_INVALID {
			t.Errorf("reason %v, want REASON_TASK_INVALID", st.GetReason())
		}
		for _, want := range []string{
			"refused by the admission policy (3 violations)",
			`docker-compose.yml: service "web": field "privileged": privileged services are not allowed (policy rule allow_privileged)`,
			`docker-compose.yml: service "side": field "cap_add": adding capability CAP_NET_ADMIN is not allowed (policy rule allowed_cap_add)`,
			`docker-compose.yml: service "side": field "volumes[0]": bind source / is not under an allowed prefix`,
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("TASK_FAILED message does not say %q", want)
			}
		}
		if strings.Contains(msg, "volumes[1]") {
			t.Errorf("the sandbox bind was refused: %s", msg)
		}
		if exit := waitExit(t, ex, 20*time.Second); exit.Forced || len(exit.Unacked) > 0 {
			t.Errorf("executor exit: %+v", exit)
		}
		if ctrs := e.containers(); len(ctrs) > 0 {
			t.Errorf("containers were created for a refused pod: %v", ctrs)
		}
		if _, err := os.Stat(filepath.Join(ex.Sandbox(), PlanFile)); err == nil {
			t.Errorf("a refused pod's plan was written to the sandbox")
		}
	})

	t.Run("operator loosens", func(t *testing.T) {
		e := newE2E(t, e2eOpts{})
		hostDir := t.TempDir()
		config := filepath.Join(t.TempDir(), "executor.yaml")
		if err := os.WriteFile(config, []byte(fmt.Sprintf(`policy:
  allow_privileged: true
  bind_mounts:
    allowed_prefixes: [%s]
`, hostDir)), 0o644); err != nil {
			t.Fatal(err)
		}
		e.env = map[string]string{"COMPOD_CONFIG": config}
		compose := fmt.Sprintf(`services:
  web:
    image: %s
    command: ["sh", "-c", "cat /data/x > /out/from-sandbox && echo ok > /out/privileged; trap 'exit 0' TERM; while true; do busybox sleep 0.1; done"]
    privileged: true
    volumes: ["%s:/out", "./data:/data:ro"]
`, testenv.BusyboxRef, hostDir)
		task := taskInfo("policy-allowed", []string{"docker-compose.yml"}, nil)
		ex := e.launch(task, map[string]string{"docker-compose.yml": compose, "data/x": "from the sandbox\n"})
		waitState(t, ex, task.TaskID.Value, mesos.TASK_RUNNING, 60*time.Second)
		// The service writes through both binds once it runs.
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, err := os.ReadFile(filepath.Join(hostDir, "from-sandbox"))
			if err == nil && string(b) == "from the sandbox\n" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the service did not write through its binds: %q, %v", b, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		grace := 2 * time.Second
		if err := ex.Kill(ctxFor(t, 5*time.Second), task.TaskID.Value, &grace); err != nil {
			t.Fatal(err)
		}
		waitState(t, ex, task.TaskID.Value, mesos.TASK_KILLED, 10*time.Second)
		if exit := waitExit(t, ex, 15*time.Second); exit.Code != 0 || exit.Forced || len(exit.Unacked) > 0 {
			t.Errorf("executor exit: %+v", exit)
		}
	})
}
