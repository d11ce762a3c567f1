package main_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/compod/compod/internal/testenv"
)

// up of an image it must pull says so on stderr, naming the image, when
// the pull starts and when it ends; not on a terminal these are plain
// lines (no cursor movement).
func TestUpPrintsPullProgress(t *testing.T) {
	c := newCLI(t)
	ref := testenv.PushTestapp(t, testenv.Client(t), testenv.Registry(t))
	c.write("compose.yaml", fmt.Sprintf(`
services:
  web:
    image: %s
    command: ["-listen", ":8080"]
`, ref))
	pod := "cfgpull-cli"
	out, errOut, code := c.run("up", "-d", "-p", pod)
	if code != 0 {
		t.Fatalf("up -d exited %d: %s %s", code, out, errOut)
	}
	defer func() {
		if _, e, code := c.run("down", "-p", pod, "-t", "1"); code != 0 {
			t.Errorf("down exited %d: %s", code, e)
		}
		c.assertGone(pod)
	}()
	if !strings.Contains(errOut, "pulling "+ref+": ") || !strings.Contains(errOut, "pulled "+ref+": ") {
		t.Errorf("up's stderr has no pull lines naming %s:\n%s", ref, errOut)
	}
	if strings.Contains(errOut, "\x1b[") {
		t.Errorf("up's stderr is not a terminal but has escape sequences:\n%q", errOut)
	}
	// An image already present is not pulled: no pull lines.
	if _, e, code := c.run("down", "-p", pod, "-t", "1"); code != 0 {
		t.Fatalf("down exited %d: %s", code, e)
	}
	_, errOut, code = c.run("up", "-d", "-p", pod)
	if code != 0 || strings.Contains(errOut, "pulling") {
		t.Errorf("second up: exit %d, stderr %q; want no pull", code, errOut)
	}
}
