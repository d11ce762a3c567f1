package logfile

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// Docker's `local` log driver keeps 5 files of 20 MB: the bounds of a
// service's log when compose sets none.
const (
	DefaultMaxSize  = 20 << 20
	DefaultMaxFiles = 5
)

// Mode is the mode of log files: root's, readable by its group (docker's
// json logs are 0640 too).
const Mode os.FileMode = 0o640

// Rotated names the n-th rotated file of path (1 is the newest).
func Rotated(path string, n int) string { return path + "." + strconv.Itoa(n) }

// Writer appends entries to a log file and rotates it: when an entry would
// take the file past MaxSize, path.1 becomes path.2 and so on, path becomes
// path.1, and the oldest beyond MaxFiles files in all (the current one
// counts) is removed. Safe for concurrent use.
type Writer struct {
	path     string
	maxSize  int64
	maxFiles int
	now      func() time.Time

	mu   sync.Mutex
	f    *os.File
	size int64
	buf  []byte
}

// NewWriter opens (appends to) the log file path. maxSize ≤ 0 and
// maxFiles ≤ 0 mean the defaults.
func NewWriter(path string, maxSize int64, maxFiles int) (*Writer, error) {
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if maxFiles <= 0 {
		maxFiles = DefaultMaxFiles
	}
	w := &Writer{path: path, maxSize: maxSize, maxFiles: maxFiles, now: time.Now}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, Mode)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.size = f, fi.Size()
	return nil
}

// Write appends one entry of stream.
func (w *Writer) Write(stream string, partial bool, text []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = appendEntry(w.buf[:0], w.now(), stream, partial, text)
	if w.size > 0 && w.size+int64(len(w.buf)) > w.maxSize {
		if err := w.rotate(); err != nil {
			return fmt.Errorf("rotating %s: %w", w.path, err)
		}
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	return err
}

// rotate shifts the files by one and starts an empty current file.
func (w *Writer) rotate() error {
	if err := w.f.Close(); err != nil {
		return err
	}
	if w.maxFiles == 1 {
		// No rotated file is kept: the current one starts again (docker's
		// max-file=1).
		if err := os.Truncate(w.path, 0); err != nil {
			return err
		}
		return w.open()
	}
	if err := os.Remove(Rotated(w.path, w.maxFiles-1)); err != nil && !os.IsNotExist(err) {
		return err
	}
	for n := w.maxFiles - 2; n >= 1; n-- {
		if err := os.Rename(Rotated(w.path, n), Rotated(w.path, n+1)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	if err := os.Rename(w.path, Rotated(w.path, 1)); err != nil {
		return err
	}
	return w.open()
}

// Close closes the current file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}
