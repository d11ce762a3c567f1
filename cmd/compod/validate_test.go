package main_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compod/compod/internal/testenv"
)

// compod validate reports every compose error and every policy violation,
// in text and in JSON, with the exit code up's admission would give.
func TestValidateGolden(t *testing.T) {
	bin := testenv.CompodBinary(t)
	dir, err := filepath.Abs("testdata/validate")
	if err != nil {
		t.Fatal(err)
	}
	compose, broken, policy := filepath.Join(dir, "compose.yaml"), filepath.Join(dir, "broken.yaml"), filepath.Join(dir, "policy.yaml")
	examplePlugins := filepath.Join(testenv.ModuleRoot(t), "examples", "plugins")
	for _, tt := range []struct {
		golden   string
		args     []string
		wantCode int
	}{
		{"no-policy.txt", []string{"validate", "-f", compose}, 0},
		{"policy.txt", []string{"validate", "-f", compose, "--policy", policy}, 1},
		{"policy.json", []string{"validate", "-f", compose, "--policy", policy, "--format", "json"}, 1},
		{"broken.txt", []string{"validate", "-f", broken}, 1},
		{"broken.json", []string{"validate", "-f", broken, "--format", "json"}, 1},
		// The plugins' PreLaunch comes before the policy: the denying
		// plugin's verdict is the answer.
		{"plugin-deny.txt", []string{"validate", "-f", compose, "--policy", policy, "--plugins", "general,deny-privileged", "--plugin-dir", examplePlugins}, 1},
		{"plugin-deny.json", []string{"validate", "-f", compose, "--plugins", "general,deny-privileged", "--plugin-dir", examplePlugins, "--format", "json"}, 1},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			out, stderr, code := runBinary(t, bin, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.wantCode, stderr)
			}
			golden := filepath.Join(dir, tt.golden)
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out != string(want) {
				t.Errorf("compod %v:\n%s\nwant (%s):\n%s", tt.args, out, golden, want)
			}
		})
	}
	// A broken policy file is no verdict on the pod: an error naming it.
	bad := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(bad, []byte("allow_privilegd: true\n"), 0o644)
	if _, stderr, code := runBinary(t, bin, "validate", "-f", compose, "--policy", bad); code != 1 || !strings.Contains(stderr, bad) {
		t.Errorf("broken policy: exit %d, stderr %q; want 1 and the file named", code, stderr)
	}
	// Out-of-process plugins run only from a directory given.
	if _, stderr, code := runBinary(t, bin, "validate", "-f", compose, "--plugins", "deny-privileged"); code != 1 || !strings.Contains(stderr, `unknown plugin "deny-privileged"`) {
		t.Errorf("plugin without --plugin-dir: exit %d, stderr %q", code, stderr)
	}
}
