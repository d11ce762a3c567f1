package main_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compod/compod/internal/testenv"
)

// These run the built binary without containerd.

// runBinary runs compod with only PATH and HOME of the environment, and
// returns stdout, stderr and the exit code.
func runBinary(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("compod %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

var globalFlags = []string{"--address", "--namespace", "--state-dir", "--cni-conf-dir", "--cni-bin-dir", "--netns-dir", "--sandbox-image", "--host-helper", "--log-level"}

// Each command's help lists its own flags and the global ones.
func TestHelpListsFlags(t *testing.T) {
	bin := testenv.CompodBinary(t)
	for cmd, flags := range map[string][]string{
		"up":       {"-f, --file", "-p, --project-name", "--env-file", "--profile", "--pull", "--timeout", "-d, --detach"},
		"down":     {"-p, --project-name", "-f, --file", "-t, --timeout"},
		"ps":       {"-p, --project-name", "--format"},
		"logs":     {"-p, --project-name", "-f, --follow"},
		"gc":       {"--dry-run", "--format"},
		"executor": {"--config"},
		"config":   {"-f, --file", "-p, --project-name", "--env-file", "--profile", "--format", "--oci"},
	} {
		out, errOut, code := runBinary(t, bin, cmd, "--help")
		if code != 0 {
			t.Errorf("compod %s --help exited %d: %s", cmd, code, errOut)
		}
		for _, f := range append(flags, globalFlags...) {
			if !strings.Contains(out, f) {
				t.Errorf("compod %s --help does not list %s:\n%s", cmd, f, out)
			}
		}
		if !strings.Contains(out, "Global Flags:") {
			t.Errorf("compod %s --help has no global flags section:\n%s", cmd, out)
		}
	}
	out, _, code := runBinary(t, bin, "--help")
	for _, c := range []string{"up", "down", "ps", "logs", "config", "validate", "gc", "volume", "supervise", "executor", "version", "completion"} {
		if !strings.Contains(out, "\n  "+c+" ") {
			t.Errorf("compod --help does not list command %s:\n%s", c, out)
		}
	}
	if code != 0 {
		t.Errorf("compod --help: exit %d", code)
	}
	// --owner-fd is how up -d hands the pod over, not for users.
	if out, _, _ := runBinary(t, bin, "supervise", "--help"); strings.Contains(out, "owner-fd") {
		t.Errorf("compod supervise --help lists the internal --owner-fd:\n%s", out)
	}
}

// Usage errors exit 2 and point at the command's help; no command at all
// prints the help.
func TestUsageErrorsExit2(t *testing.T) {
	bin := testenv.CompodBinary(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "Available Commands"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"up", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"--bogus", "ps"}, "unknown flag: --bogus"},
		{[]string{"up", "extra"}, `no arguments expected, got ["extra"]`},
		{[]string{"up", "--timeout", "soon"}, `invalid argument "soon"`},
		{[]string{"down", "-t", "-1", "-p", "x"}, "--timeout -1"},
		{[]string{"logs"}, "give the pod"},
		{[]string{"logs", "-p", "x", "a", "b"}, "one service at most"},
		{[]string{"gc", "now"}, "no arguments expected"},
		{[]string{"ps", "--address"}, "flag needs an argument: --address"},
		{[]string{"supervise"}, "give the pod"},
	} {
		_, errOut, code := runBinary(t, bin, tt.args...)
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("compod %q: exit %d, stderr %q; want 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
}

func TestCompletion(t *testing.T) {
	bin := testenv.CompodBinary(t)
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, errOut, code := runBinary(t, bin, "completion", shell)
		if code != 0 || !strings.Contains(out, "compod") {
			t.Errorf("completion %s: exit %d, %d bytes: %s", shell, code, len(out), errOut)
		}
	}
	// What the generated scripts ask the binary: commands, then flags.
	out, _, _ := runBinary(t, bin, "__complete", "")
	for _, c := range []string{"up", "down", "ps", "logs", "gc", "version"} {
		if !strings.Contains(out, c+"\t") {
			t.Errorf("completing a command does not offer %s:\n%s", c, out)
		}
	}
	out, _, _ = runBinary(t, bin, "__complete", "up", "--")
	for _, f := range []string{"--detach", "--file", "--address", "--state-dir"} {
		if !strings.Contains(out, f) {
			t.Errorf("completing up's flags does not offer %s:\n%s", f, out)
		}
	}
}

func TestVersion(t *testing.T) {
	bin := testenv.CompodBinary(t)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, errOut, code := runBinary(t, bin, args...)
		// "compod (devel) go1.26.6 linux/amd64" from a checkout without
		// VCS stamping; "compod v0.0.0-... (commit abc, modified) go..."
		// with it.
		f := strings.Fields(out)
		if code != 0 || len(f) < 3 || f[0] != "compod" || !strings.Contains(out, " go1.") {
			t.Errorf("compod %v: exit %d, %q (%s); want compod VERSION ... goVERSION", args, code, out, errOut)
		}
	}
}

// ps and logs only read: with containerd away they make nothing in the
// state dir, and ps of no pods is an empty list.
func TestPsWithoutContainerdWritesNothing(t *testing.T) {
	bin := testenv.CompodBinary(t)
	state := filepath.Join(t.TempDir(), "state")
	out, errOut, code := runBinary(t, bin, "ps", "--format", "json", "--state-dir", state, "--address", "/nonexistent/containerd.sock")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("ps without containerd nor pods: exit %d, %q, %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "containerd is unreachable") {
		t.Errorf("ps does not say containerd is unreachable: %q", errOut)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("ps made the state dir %s (%v)", state, err)
	}
}
