package logfile

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readAll(t *testing.T, path string, opts ReadOptions) []Line {
	t.Helper()
	var out []Line
	err := Read(context.Background(), path, opts, func(l Line) {
		l.Text = bytes.Clone(l.Text)
		out = append(out, l)
	})
	if err != nil {
		t.Fatalf("Read %s: %v", path, err)
	}
	return out
}

func texts(lines []Line) []string {
	var s []string
	for _, l := range lines {
		s = append(s, string(l.Text))
	}
	return s
}

// A service printing more than max-size × max-file: at most max-file files,
// none above max-size, and the newest lines kept, in order.
func TestRotationKeepsNewestLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.log")
	const maxSize, maxFiles, n = 1000, 3, 500
	w, err := NewWriter(path, maxSize, maxFiles)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.Write(Stdout, false, fmt.Appendf(nil, "line-%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(path + "*")
	if len(files) != maxFiles {
		t.Errorf("files %v: want %d", files, maxFiles)
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Size() > maxSize {
			t.Errorf("%s: %v, size > %d", f, err, maxSize)
		}
	}
	got := texts(readAll(t, path, ReadOptions{}))
	if len(got) == 0 || got[len(got)-1] != fmt.Sprintf("line-%04d", n-1) {
		t.Fatalf("last line of %d: %v", len(got), got[max(0, len(got)-3):])
	}
	first := n - len(got)
	for i, s := range got {
		if want := fmt.Sprintf("line-%04d", first+i); s != want {
			t.Fatalf("line %d is %q, want %q (lines not contiguous and in order)", i, s, want)
		}
	}
	// Roughly max-file × max-size of entries are kept, not one file's worth.
	if len(got) < 2*maxSize/40 {
		t.Errorf("only %d lines kept", len(got))
	}
}

// max-file 1: the file starts again when full, and never grows past max-size.
func TestRotationOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.log")
	w, err := NewWriter(path, 500, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		w.Write(Stderr, false, fmt.Appendf(nil, "l%d", i))
	}
	w.Close()
	if files, _ := filepath.Glob(path + "*"); len(files) != 1 {
		t.Errorf("files %v", files)
	}
	got := texts(readAll(t, path, ReadOptions{}))
	if len(got) == 0 || got[len(got)-1] != "l99" {
		t.Errorf("lines %v", got)
	}
}

// Both streams in one file, each line once, marked: the reader can show one.
func TestStreamsSplit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.log")
	w, err := NewWriter(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := Copy(w, Stdout, strings.NewReader("out-1\nout-2\n")); err != nil {
		t.Fatal(err)
	}
	if err := Copy(w, Stderr, strings.NewReader("err-1\nno-newline")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	all := readAll(t, path, ReadOptions{})
	if got := strings.Join(texts(all), ","); got != "out-1,out-2,err-1,no-newline" {
		t.Errorf("all lines: %s", got)
	}
	for _, l := range all {
		if want := map[bool]string{true: Stdout, false: Stderr}[strings.HasPrefix(string(l.Text), "out")]; l.Stream != want || l.Time.IsZero() {
			t.Errorf("line %q: stream %s time %v", l.Text, l.Stream, l.Time)
		}
	}
	if got := strings.Join(texts(readAll(t, path, ReadOptions{Stream: Stderr})), ","); got != "err-1,no-newline" {
		t.Errorf("stderr only: %s", got)
	}
	if got := strings.Join(texts(readAll(t, path, ReadOptions{Stream: Stdout})), ","); got != "out-1,out-2" {
		t.Errorf("stdout only: %s", got)
	}
	data, _ := os.ReadFile(path)
	if strings.Count(string(data), "out-1") != 1 || !strings.Contains(string(data), " stderr F err-1\n") {
		t.Errorf("file:\n%s", data)
	}
}

// A line longer than the buffer is written in pieces (P … F) and read whole,
// even when the other stream's lines come between its pieces.
func TestLongLineReassembled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.log")
	w, err := NewWriter(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("0123456789", 4000) // 40000 bytes: 3 pieces
	w.Write(Stdout, true, []byte(long[:BufferSize]))
	w.Write(Stderr, false, []byte("between"))
	if err := Copy(w, Stdout, strings.NewReader(long[BufferSize:]+"\nshort\n")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), " stdout P "); n != 2 {
		t.Errorf("%d partial entries, want 2", n)
	}
	got := texts(readAll(t, path, ReadOptions{}))
	if len(got) != 3 || got[0] != "between" || got[1] != long || got[2] != "short" {
		t.Errorf("lines: %d, first %.20q", len(got), got)
	}
	if got := texts(readAll(t, path, ReadOptions{Stream: Stdout})); len(got) != 2 || got[0] != long {
		t.Errorf("stdout lines: %d", len(got))
	}
}

// Copy itself splits a long line at the buffer size.
func TestCopySplitsLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.log")
	w, _ := NewWriter(path, 0, 0)
	long := strings.Repeat("x", 3*BufferSize+5)
	if err := Copy(w, Stdout, strings.NewReader(long+"\n")); err != nil {
		t.Fatal(err)
	}
	w.Close()
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), " P "); n != 3 {
		t.Errorf("%d partial entries, want 3", n)
	}
	if got := texts(readAll(t, path, ReadOptions{})); len(got) != 1 || got[0] != long {
		t.Errorf("not one line of %d bytes: %d lines", len(long), len(got))
	}
}

// Follow goes on across rotations: every line written while following is
// read once, in order.
func TestFollowAcrossRotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "web.log")
	w, err := NewWriter(path, 400, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lines := make(chan string, 1000)
	done := make(chan error)
	go func() {
		done <- Read(ctx, path, ReadOptions{Follow: true, Poll: time.Millisecond}, func(l Line) { lines <- string(l.Text) })
	}()
	const n = 60 // ~40 bytes each: several rotations
	for i := range n {
		// Each line is read before the next is written, so no rotation
		// outruns the reader (a reader slower than max-file rotations
		// loses lines, as docker's does).
		if err := w.Write(Stdout, false, fmt.Appendf(nil, "line-%02d", i)); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-lines:
			if want := fmt.Sprintf("line-%02d", i); got != want {
				t.Fatalf("read %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("line-%02d not read within 10s", i)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rotatedOnce, _ := filepath.Glob(path + ".3"); len(rotatedOnce) != 1 {
		t.Errorf("the writer did not rotate up to %s.3", path)
	}
}

func TestParseEntry(t *testing.T) {
	e, err := ParseEntry([]byte("2024-05-01T10:00:00.123456789Z stderr P some text \n"))
	if err != nil || e.Stream != Stderr || !e.Partial || string(e.Text) != "some text " || e.Time.Nanosecond() != 123456789 {
		t.Errorf("%+v, %v", e, err)
	}
	if e, err := ParseEntry([]byte("2024-05-01T10:00:00Z stdout F")); err != nil || len(e.Text) != 0 {
		t.Errorf("empty line: %+v, %v", e, err)
	}
	for _, bad := range []string{"plain text", "2024-05-01T10:00:00Z stdin F x", "2024-05-01T10:00:00Z stdout X x", "yesterday stdout F x"} {
		if _, err := ParseEntry([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestShimLoggerArgs(t *testing.T) {
	a := Args("/x/web.log", 10<<20, 3)
	var argv []string
	for k, v := range a {
		argv = append(argv, k, v)
	}
	if !IsShimLogger(argv) || IsShimLogger([]string{"host-network", "/x"}) || IsShimLogger([]string{ArgFile}) {
		t.Errorf("IsShimLogger")
	}
}
