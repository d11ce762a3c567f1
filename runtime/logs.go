package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/compod/compod/internal/logfile"
)

// LogOptions select what Logs prints.
type LogOptions struct {
	// Service limits the output to one service; "" means every service.
	Service string
	// Stream is "stdout" or "stderr" for one stream only; "" for both.
	Stream string
	// Follow keeps printing new lines until ctx ends.
	Follow bool
	// Prefix puts "service | " before each line (the default with several
	// services, as docker compose does).
	Prefix bool
	// Timestamps puts each line's time (RFC 3339, nanoseconds) before it,
	// as docker logs -t does.
	Timestamps bool
}

// followInterval is how often a followed log file is checked for growth.
const followInterval = 100 * time.Millisecond

// Logs writes a pod's service output to w: the lines of both streams in
// the order they were written (of each service's rotated files, then its
// current one). It works after the services, or compod, have exited.
func (e *Engine) Logs(ctx context.Context, pod string, opts LogOptions, w io.Writer) error {
	rec, err := e.readRecord(pod)
	if err != nil {
		return err
	}
	switch opts.Stream {
	case "", logfile.Stdout, logfile.Stderr:
	default:
		return fmt.Errorf("stream %q: want %s or %s", opts.Stream, logfile.Stdout, logfile.Stderr)
	}
	var names []string
	for _, s := range rec.Plan.Services {
		if opts.Service == "" || s.Name == opts.Service {
			names = append(names, s.Name)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("pod %q has no service %q", pod, opts.Service)
	}
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	dir := e.podLogDir(rec)
	out := &lineWriter{w: w, timestamps: opts.Timestamps}
	var wg sync.WaitGroup
	errs := make([]error, len(names))
	for i, n := range names {
		prefix := ""
		if opts.Prefix {
			prefix = fmt.Sprintf("%-*s | ", width, n)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ro := logfile.ReadOptions{Stream: opts.Stream, Follow: opts.Follow, Poll: followInterval}
			err := logfile.Read(ctx, serviceLog(dir, n), ro, func(l logfile.Line) { out.writeLine(prefix, l) })
			if err != nil {
				errs[i] = fmt.Errorf("service %q: reading its log: %w", n, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// lineWriter writes whole lines from several goroutines.
type lineWriter struct {
	mu         sync.Mutex
	w          io.Writer
	timestamps bool
	buf        []byte
}

func (l *lineWriter) writeLine(prefix string, line logfile.Line) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := append(l.buf[:0], prefix...)
	if l.timestamps && !line.Time.IsZero() {
		b = line.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, ' ')
	}
	b = append(b, line.Text...)
	b = append(b, '\n')
	l.w.Write(b)
	l.buf = b
}
