package runtime_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/internal/testenv"
	"github.com/compod/compod/runtime"
)

// A service printing far more than max-size × max-file to both streams,
// with a line longer than the log writer's buffer: at most max-file files,
// none above max-size, the newest lines kept, each once, and `logs` shows
// them in order, whole, with each stream on its own when asked. A service
// with logging.driver none has no file at all, nor has the pause container.
func TestLogRotationAndStreams(t *testing.T) {
	h := newHarness(t)
	const pod = "logs-rotation"
	plan := h.compose(pod, fmt.Sprintf(`
services:
  chatty:
    image: %[1]s
    command: ["sh", "-c", "i=0; while [ $$i -lt 3000 ]; do [ $$i = 2900 ] && head -c 40000 /dev/zero | tr '\\0' x && echo; echo line-$$i; echo err-$$i >&2; i=$$((i+1)); done; echo done"]
    logging:
      driver: json-file
      options: {max-size: 64k, max-file: "3"}
  quiet:
    image: %[1]s
    command: ["sh", "-c", "echo dropped; echo dropped >&2"]
    logging:
      driver: none
`, testenv.BusyboxRef), nil)
	h.up(plan)
	defer h.down(pod)
	codes, err := h.eng.Wait(h.ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if codes["chatty"] != 0 || codes["quiet"] != 0 {
		t.Fatalf("exit codes %v", codes)
	}
	logs := func(opts runtime.LogOptions) []string {
		var b bytes.Buffer
		if err := h.eng.Logs(h.ctx, pod, opts, &b); err != nil {
			t.Fatalf("logs %+v: %v", opts, err)
		}
		return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	}
	// The writer may still be draining the pipes when the task's exit is
	// reported: wait for the last line of each stream. (Across streams the
	// order is the order the writer read them, as with docker: each stream
	// is a pipe of its own.)
	waitFor(t, 10*time.Second, "chatty's last lines in logs", func() (bool, string) {
		o := logs(runtime.LogOptions{Service: "chatty", Stream: "stdout"})
		e := logs(runtime.LogOptions{Service: "chatty", Stream: "stderr"})
		return o[len(o)-1] == "done" && e[len(e)-1] == "err-2999", o[len(o)-1] + " " + e[len(e)-1]
	})

	logFile, err := h.eng.LogFile(pod, "chatty")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(logFile + "*")
	if len(files) == 0 || len(files) > 3 {
		t.Errorf("log files %v: want 1 to 3 (max-file)", files)
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Size() > 64<<10 {
			t.Errorf("%s: %v, larger than max-size 64k", f, err)
		}
	}
	if len(files) < 3 {
		t.Errorf("only %v: the service wrote far more than max-size × max-file, so all 3 files should exist", files)
	}

	// Each stream alone: contiguous, in order, ending with the newest line.
	checkRun := func(stream, prefix string, lines []string) {
		t.Helper()
		if len(lines) < 100 {
			t.Fatalf("%s: only %d lines", stream, len(lines))
		}
		var first int
		if _, err := fmt.Sscanf(lines[0], prefix+"%d", &first); err != nil {
			t.Fatalf("%s: first line %q", stream, lines[0])
		}
		for i, l := range lines {
			if want := fmt.Sprintf("%s%d", prefix, first+i); l != want {
				t.Fatalf("%s: line %d is %.40q, want %q", stream, i, l, want)
			}
		}
		if last := lines[len(lines)-1]; last != prefix+"2999" {
			t.Errorf("%s: newest line %q", stream, last)
		}
	}
	// stdout: … line-2899, the 40000-byte line whole, line-2900 … line-2999, done.
	stdout := logs(runtime.LogOptions{Service: "chatty", Stream: "stdout"})
	n := len(stdout)
	long := n - 102
	if n < 103 || stdout[n-1] != "done" || stdout[long] != strings.Repeat("x", 40000) {
		t.Fatalf("stdout does not hold the 40000-byte line whole 100 lines before done (%d lines, around it %.40q)", n, stdout[max(0, long-1):min(n, long+2)])
	}
	checkRun("stdout", "line-", append(stdout[:long:long], stdout[long+1:n-1]...))
	checkRun("stderr", "err-", logs(runtime.LogOptions{Service: "chatty", Stream: "stderr"}))

	// Both streams: every line once.
	all := logs(runtime.LogOptions{Service: "chatty"})
	seen := map[string]int{}
	for _, l := range all {
		seen[l]++
	}
	for l, c := range seen {
		if c > 1 {
			t.Errorf("line %.40q shown %d times", l, c)
		}
	}
	if seen["line-2999"] != 1 || seen["err-2999"] != 1 {
		t.Errorf("the newest lines of both streams are not both in logs")
	}
	// With timestamps: each line starts with its time.
	ts := logs(runtime.LogOptions{Service: "chatty", Timestamps: true})
	if at, text, _ := strings.Cut(ts[len(ts)-1], " "); text != "done" && text != "err-2999" {
		t.Errorf("last line with timestamps: %.60q", ts[len(ts)-1])
	} else if _, err := time.Parse(time.RFC3339Nano, at); err != nil {
		t.Errorf("timestamp %q: %v", at, err)
	}

	// logging.driver none: nothing written, nothing shown.
	dir := filepath.Dir(logFile)
	for _, name := range []string{"quiet.log", "pause.log"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s exists (%v): no log file expected", name, err)
		}
	}
	if out := logs(runtime.LogOptions{Service: "quiet"}); len(out) != 1 || out[0] != "" {
		t.Errorf("logs of a service with driver none: %q", out)
	}
}
