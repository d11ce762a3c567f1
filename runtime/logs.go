package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// LogOptions select what Logs prints.
type LogOptions struct {
	// Service limits the output to one service; "" means every service.
	Service string
	// Follow keeps printing new lines until ctx ends.
	Follow bool
	// Prefix puts "service | " before each line (the default with several
	// services, as docker compose does).
	Prefix bool
}

// followInterval is how often a followed log file is checked for growth.
const followInterval = 100 * time.Millisecond

// Logs writes a pod's service output (stdout and stderr interleaved by
// line) to w. It works after the services, or compod, have exited.
func (e *Engine) Logs(ctx context.Context, pod string, opts LogOptions, w io.Writer) error {
	rec, err := e.readRecord(pod)
	if err != nil {
		return err
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
	out := &lineWriter{w: w}
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
			errs[i] = tailFile(ctx, combinedLog(filepath.Join(e.logDir(pod), n)), prefix, opts.Follow, out)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// lineWriter writes whole lines from several goroutines.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) writeLine(prefix string, line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	io.WriteString(l.w, prefix)
	l.w.Write(line)
	if len(line) == 0 || line[len(line)-1] != '\n' {
		io.WriteString(l.w, "\n")
	}
}

func tailFile(ctx context.Context, path, prefix string, follow bool, out *lineWriter) error {
	var f *os.File
	for {
		var err error
		f, err = os.Open(path)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if !follow {
			return nil // the service never wrote anything
		}
		if !sleepCtx(ctx, followInterval) {
			return nil
		}
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var partial []byte
	for {
		line, err := r.ReadBytes('\n')
		partial = append(partial, line...)
		if err == nil {
			out.writeLine(prefix, partial)
			partial = partial[:0]
			continue
		}
		if err != io.EOF {
			return err
		}
		if !follow {
			if len(partial) > 0 {
				out.writeLine(prefix, partial)
			}
			return nil
		}
		if !sleepCtx(ctx, followInterval) {
			if len(partial) > 0 {
				out.writeLine(prefix, partial)
			}
			return nil
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// LogFiles names a service's log files (combined, stdout, stderr).
func (e *Engine) LogFiles(pod, service string) (combined, stdout, stderr string) {
	p := filepath.Join(e.logDir(pod), service)
	return combinedLog(p), stdoutLog(p), stderrLog(p)
}
