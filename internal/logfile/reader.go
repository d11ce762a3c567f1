package logfile

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// Line is one whole line of a service's output.
type Line struct {
	// Time is when the line's first piece was read (zero for a line of a
	// file not in the entry format, such as one of an older compod).
	Time   time.Time
	Stream string
	Text   []byte // without the newline; valid until emit returns
}

// ReadOptions select what Read emits.
type ReadOptions struct {
	// Stream is Stdout or Stderr for one stream only, "" for both.
	Stream string
	// Follow keeps reading what is written next, across rotations, until
	// the context ends.
	Follow bool
	// Poll is how often a followed file is checked for growth.
	Poll time.Duration
}

// Files lists path's rotated files that exist, oldest first, then path.
func Files(path string) []string {
	var rotated []string
	for n := 1; ; n++ {
		if _, err := os.Lstat(Rotated(path, n)); err != nil {
			break
		}
		rotated = append(rotated, Rotated(path, n))
	}
	out := make([]string, 0, len(rotated)+1)
	for i := len(rotated) - 1; i >= 0; i-- {
		out = append(out, rotated[i])
	}
	return append(out, path)
}

// Read emits the lines of the log file path, the rotated files first, with
// the pieces of long lines joined. A missing file is empty (the service
// has written nothing yet).
func Read(ctx context.Context, path string, opts ReadOptions, emit func(Line)) error {
	if opts.Poll <= 0 {
		opts.Poll = 100 * time.Millisecond
	}
	a := assembler{stream: opts.Stream, emit: emit, pending: map[string]*Line{}}
	files := Files(path)
	for _, p := range files[:len(files)-1] {
		if err := a.readFile(p); err != nil {
			return err
		}
	}
	if !opts.Follow {
		err := a.readFile(path)
		a.flush()
		return err
	}
	err := a.follow(ctx, path, opts.Poll)
	a.flush()
	return err
}

// assembler turns entries into lines.
type assembler struct {
	stream  string
	emit    func(Line)
	pending map[string]*Line // per stream: the pieces of an unfinished line
}

func (a *assembler) entry(raw []byte) {
	e, err := ParseEntry(raw)
	if err != nil {
		// Not an entry: a plain line (log files of an older compod).
		text := raw
		if n := len(text); n > 0 && text[n-1] == '\n' {
			text = text[:n-1]
		}
		e = Entry{Stream: Stdout, Text: text}
	}
	if a.stream != "" && e.Stream != a.stream {
		return
	}
	p := a.pending[e.Stream]
	if e.Partial {
		if p == nil {
			p = &Line{Time: e.Time, Stream: e.Stream}
			a.pending[e.Stream] = p
		}
		p.Text = append(p.Text, e.Text...)
		return
	}
	if p == nil {
		a.emit(Line{Time: e.Time, Stream: e.Stream, Text: e.Text})
		return
	}
	p.Text = append(p.Text, e.Text...)
	delete(a.pending, e.Stream)
	a.emit(*p)
}

// flush emits unfinished lines (a writer that stopped mid-line).
func (a *assembler) flush() {
	for _, s := range []string{Stdout, Stderr} {
		if p := a.pending[s]; p != nil {
			delete(a.pending, s)
			a.emit(*p)
		}
	}
}

func (a *assembler) readFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // rotated away meanwhile, or never written
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			a.entry(line)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// follow reads path as it grows; when the writer rotates it, it reads the
// rotated file (still open) to its end and goes on with the new one.
func (a *assembler) follow(ctx context.Context, path string, poll time.Duration) error {
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var r *bufio.Reader
	var part []byte // an entry being written while it was read
	for {
		if f == nil {
			var err error
			if f, err = os.Open(path); err != nil {
				if !errors.Is(err, os.ErrNotExist) {
					return err
				}
				f = nil
				if !sleep(ctx, poll) {
					return nil
				}
				continue
			}
			r = bufio.NewReader(f)
		}
		line, err := r.ReadBytes('\n')
		part = append(part, line...)
		if err == nil {
			a.entry(part)
			part = part[:0]
			continue
		}
		if err != io.EOF {
			return err
		}
		// At the end: has the writer moved on to a new file?
		if rotated(f, path) {
			// Whatever reached the old file before the rotation is read
			// before the switch (it was at its end when checked, and the
			// writer writes no more to it after the rename).
			if rest, err := io.ReadAll(r); err == nil && len(rest) > 0 {
				part = append(part, rest...)
				for len(part) > 0 {
					i := indexNL(part)
					if i < 0 {
						break
					}
					a.entry(part[:i+1])
					part = part[i+1:]
				}
			}
			part = part[:0]
			f.Close()
			f = nil
			continue
		}
		// With one file only, the writer truncates it instead.
		if off, err := f.Seek(0, io.SeekCurrent); err == nil {
			if fi, err := f.Stat(); err == nil && fi.Size() < off {
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					return err
				}
				r.Reset(f)
				part = part[:0]
				continue
			}
		}
		if !sleep(ctx, poll) {
			return nil
		}
	}
}

func indexNL(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}

// rotated tells whether path no longer names the open file f.
func rotated(f *os.File, path string) bool {
	cur, err := os.Stat(path)
	if err != nil {
		return false // between the rename and the new file: not yet
	}
	open, err := f.Stat()
	return err == nil && !os.SameFile(cur, open)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
