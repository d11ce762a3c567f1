// Package logfile is the format, the writer and the reader of a service's
// log file: one file per service holding each line of stdout and stderr
// once, in CRI's format (what kubelet and containerd's CRI write):
//
//	<RFC3339Nano time> <stdout|stderr> <F|P> <text>
//
// F ends a line; P is a piece of a line longer than the writer's buffer,
// continued by the next entry of the same stream. The writer rotates the
// file (<file>.1 is the newest rotated one). The package uses the standard
// library only: it is linked into cmd/compod-logger, the small log writer
// the containerd shim runs for every task.
package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// Stream names, as written in the file.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Entry is one line of a log file (a whole line, or a piece of one).
type Entry struct {
	Time   time.Time
	Stream string
	// Partial: the text is a piece of a line that the next entry of the
	// same stream continues.
	Partial bool
	Text    []byte // without the newline
}

// appendEntry appends e as a line of the file to b.
func appendEntry(b []byte, t time.Time, stream string, partial bool, text []byte) []byte {
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, stream...)
	if partial {
		b = append(b, " P "...)
	} else {
		b = append(b, " F "...)
	}
	b = append(b, text...)
	return append(b, '\n')
}

// ParseEntry parses one line of a log file (with or without its newline).
// The returned Text shares line's memory.
func ParseEntry(line []byte) (Entry, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	ts, rest, ok1 := bytes.Cut(line, []byte{' '})
	stream, rest, ok2 := bytes.Cut(rest, []byte{' '})
	tag, text, ok3 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || !ok3 {
		// A tag with empty text has no trailing space when a tool trims it.
		if ok1 && ok2 && len(rest) == 1 {
			tag, text, ok3 = rest, nil, true
		}
	}
	if !ok1 || !ok2 || !ok3 {
		return Entry{}, errors.New("not a log entry (<time> <stream> <F|P> <text>)")
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return Entry{}, fmt.Errorf("log entry time: %w", err)
	}
	e := Entry{Time: t, Text: text}
	switch string(stream) {
	case Stdout, Stderr:
		e.Stream = string(stream)
	default:
		return Entry{}, fmt.Errorf("log entry stream %q: want stdout or stderr", stream)
	}
	switch string(tag) {
	case "F":
	case "P":
		e.Partial = true
	default:
		return Entry{}, fmt.Errorf("log entry tag %q: want F or P", tag)
	}
	return e, nil
}
