package runtime_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// Secrets and configs as a service sees them: the content of each source,
// at docker compose's targets, read-only, with the mode and owner asked
// for (docker's 0444 0:0 by default); the copies go with the pod at down.
func TestSecretsAndConfigs(t *testing.T) {
	h := newHarness(t)
	const pod = "sec-files"
	compose := fmt.Sprintf(`
services:
  app:
    image: %s
    user: "1000:1000"
    command:
      - sh
      - -c
      - |
        echo "password=$$(cat /run/secrets/db_password)"
        echo "password-stat=$$(stat -c '%%a %%u %%g' /run/secrets/db_password)"
        echo "token=$$(cat /run/secrets/token)"
        echo "token-stat=$$(stat -c '%%a %%u %%g' /run/secrets/token)"
        echo "conf=$$(cat /etc/app/app.ini)"
        echo "conf-stat=$$(stat -c '%%a %%u %%g' /etc/app/app.ini)"
        echo "motd=$$(cat /motd)"
    secrets:
      - source: db_password
        uid: "1000"
        gid: "1000"
        mode: 0440
      - token
    configs:
      - source: app_conf
        target: /etc/app/app.ini
        mode: 0400
        uid: "1000"
      - motd
  root:
    image: %s
    command: ["sh", "-c", "echo x > /run/secrets/db_password && echo write-ok; echo root-read=$$(cat /run/secrets/db_password)"]
    secrets: [db_password]
secrets:
  db_password:
    file: ./db_password.txt
  token:
    environment: SEC_TEST_TOKEN
configs:
  app_conf:
    file: ./app.ini
  motd:
    content: hello from compose
`, testenv.BusyboxRef, testenv.BusyboxRef)
	t.Setenv("SEC_TEST_TOKEN", "tok-42")
	plan := h.compose(pod, compose, map[string]string{"db_password.txt": "s3cret", "app.ini": "[app]"})
	h.up(plan)
	downed := false
	defer func() {
		if !downed {
			h.down(pod)
		}
	}()
	codes, err := h.eng.Wait(h.ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	out := h.logsOf(pod, "app")
	if codes["app"] != 0 {
		t.Fatalf("app exited %d: %s", codes["app"], out)
	}
	for _, want := range []string{
		"password=s3cret\n",
		"password-stat=440 1000 1000\n",
		"token=tok-42\n",
		"token-stat=444 0 0\n",
		"conf=[app]\n",
		"conf-stat=400 1000 0\n",
		"motd=hello from compose\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("app's output lacks %q:\n%s", want, out)
		}
	}
	// Read-only even for root, who may read it.
	rootOut := h.logsOf(pod, "root")
	if strings.Contains(rootOut, "write-ok") || !strings.Contains(rootOut, "root-read=s3cret") {
		t.Errorf("root could write the secret, or not read it:\n%s", rootOut)
	}

	// The copies are root's alone on the host, and not the user's file.
	secDir := filepath.Join(h.stateDir, "pods", pod, "secrets")
	for _, d := range []string{secDir, filepath.Join(secDir, "app")} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("%s has mode %#o, want 0700", d, fi.Mode().Perm())
		}
	}
	downed = true
	h.down(pod)
	if _, err := os.Stat(secDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("secrets left after down: %v", err)
	}
}

// A secret file removed between translation and launch fails the launch,
// naming the service and the secret, and leaves nothing behind.
func TestSecretsMissingAtLaunch(t *testing.T) {
	h := newHarness(t)
	const pod = "sec-missing"
	plan := h.compose(pod, fmt.Sprintf(`
services:
  app:
    image: %s
    command: ["true"]
    secrets: [db_password]
secrets:
  db_password:
    file: ./db_password.txt
`, testenv.BusyboxRef), map[string]string{"db_password.txt": "s3cret"})
	src := plan.Services[0].FileMounts[0].File
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	_, err := h.eng.Up(h.ctx, plan, runtime.UpOptions{})
	if err == nil || !strings.Contains(err.Error(), `service "app": secret "db_password"`) || !strings.Contains(err.Error(), src) {
		t.Errorf("up with a missing secret file: %v", err)
	}
	h.assertNoLeak()
}
