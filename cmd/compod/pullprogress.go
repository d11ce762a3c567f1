package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/compod/compod/runtime"
)

// plainPullInterval is how often a pull in progress gets a line when the
// output is not a terminal (a log file, CI).
const plainPullInterval = 5 * time.Second

// barWidth is the width of a progress bar on a terminal.
const barWidth = 24

// pullRenderer shows image pulls as docker and nerdctl do: on a terminal,
// one line per image with a bar and bytes, and a line per layer being
// downloaded, redrawn in place; otherwise a plain line per image when it
// starts, every plainPullInterval and when it ends. Its update is
// runtime.UpOptions.PullProgress (called from several pulls at once).
type pullRenderer struct {
	w     io.Writer
	tty   bool
	width int // terminal columns; lines are cut to fit so redraws line up

	mu      sync.Mutex
	order   []string // images, as first reported
	last    map[string]runtime.PullProgress
	printed map[string]time.Time // plain: when an image last had a line
	drawn   int                  // tty: lines the last redraw wrote
}

func newPullRenderer(f *os.File) *pullRenderer {
	r := &pullRenderer{w: f, last: map[string]runtime.PullProgress{}, printed: map[string]time.Time{}}
	if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil {
		r.tty, r.width = true, int(ws.Col)
	}
	return r
}

func (r *pullRenderer) update(p runtime.PullProgress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.last[p.Image]; !ok {
		r.order = append(r.order, p.Image)
	}
	r.last[p.Image] = p
	if r.tty {
		r.redraw()
		return
	}
	end := p.Done || p.Err != nil
	if t, ok := r.printed[p.Image]; ok && !end && time.Since(t) < plainPullInterval {
		return
	}
	r.printed[p.Image] = time.Now()
	fmt.Fprintln(r.w, p.String())
}

// redraw rewrites the lines of the last redraw with the pulls' current
// state: the cursor goes back up and every line is cleared first.
func (r *pullRenderer) redraw() {
	var b strings.Builder
	if r.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", r.drawn)
	}
	lines := 0
	line := func(s string) {
		if r.width > 1 && len(s) >= r.width {
			s = s[:r.width-1]
		}
		b.WriteString("\r\x1b[K" + s + "\n")
		lines++
	}
	for _, img := range r.order {
		p := r.last[img]
		if p.Done || p.Err != nil || len(p.Blobs) == 0 {
			line(p.String())
			continue
		}
		done, all := p.Layers()
		line(fmt.Sprintf("pulling %s %s %s, %d/%d layers", img, bar(p.Offset, p.Total), p.Bytes(), done, all))
		for _, l := range p.Blobs {
			if l.Status == runtime.BlobDownloading {
				lp := runtime.PullProgress{Offset: l.Offset, Total: l.Total}
				line(fmt.Sprintf("  %s %s %s", shortDigest(l.Digest), bar(l.Offset, l.Total), lp.Bytes()))
			}
		}
	}
	// Lines of the last redraw that this one does not need any more.
	for i := lines; i < r.drawn; i++ {
		b.WriteString("\r\x1b[K\n")
	}
	if extra := r.drawn - lines; extra > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", extra)
	}
	r.drawn = lines
	io.WriteString(r.w, b.String())
}

// bar is "[=======>        ]" for offset of total.
func bar(offset, total int64) string {
	n := 0
	if total > 0 {
		n = int(min(offset, total) * barWidth / total)
	}
	s := strings.Repeat("=", n)
	if n < barWidth {
		s += ">" + strings.Repeat(" ", barWidth-n-1)
	}
	return "[" + s + "]"
}

// shortDigest is the first 12 hex digits, as docker shows layers.
func shortDigest(d string) string {
	_, hex, _ := strings.Cut(d, ":")
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}
