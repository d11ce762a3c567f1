package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// The containerd shim runs compod's hidden `shim-logger` command as a
// "binary" log driver for each task (see containerd's binary logging): the
// task's stdout arrives on fd 3, stderr on fd 4, and closing fd 5 tells the
// shim that the logger is ready. Because the shim owns this process, output
// keeps reaching the files while compod is not running.
const shimLoggerArg = "shim-logger"

// ShimLoggerCommand is the argv[1] compod is started with as a log driver.
const ShimLoggerCommand = shimLoggerArg

// Log file names for a service whose log prefix is P: P.stdout.log,
// P.stderr.log, and P.log with both streams interleaved by line.
func stdoutLog(prefix string) string   { return prefix + ".stdout.log" }
func stderrLog(prefix string) string   { return prefix + ".stderr.log" }
func combinedLog(prefix string) string { return prefix + ".log" }

// RunShimLogger is the body of `compod shim-logger PREFIX`.
func RunShimLogger(prefix string) error {
	stdin, stderrIn, ready := os.NewFile(3, "stdout"), os.NewFile(4, "stderr"), os.NewFile(5, "ready")
	if stdin == nil || stderrIn == nil || ready == nil {
		return errors.New("shim-logger is run by the containerd shim, not by hand")
	}
	open := func(p string) (*os.File, error) {
		return os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, LogFileMode)
	}
	outF, err := open(stdoutLog(prefix))
	if err != nil {
		return err
	}
	errF, err := open(stderrLog(prefix))
	if err != nil {
		return err
	}
	allF, err := open(combinedLog(prefix))
	if err != nil {
		return err
	}
	if err := ready.Close(); err != nil {
		return fmt.Errorf("signalling readiness: %w", err)
	}
	var mu sync.Mutex // keeps lines of the two streams whole in the combined file
	var wg sync.WaitGroup
	copyLines := func(in io.Reader, own *os.File) {
		defer wg.Done()
		r := bufio.NewReaderSize(in, 64<<10)
		for {
			line, err := r.ReadBytes('\n')
			if len(line) > 0 {
				own.Write(line)
				mu.Lock()
				allF.Write(line)
				mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go copyLines(stdin, outF)
	go copyLines(stderrIn, errF)
	wg.Wait()
	return errors.Join(outF.Close(), errF.Close(), allF.Close())
}
