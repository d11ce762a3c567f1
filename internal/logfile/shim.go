package logfile

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
)

// The containerd shim runs a "binary" log driver for each task (see
// containerd's binary logging): the task's stdout arrives on fd 3, stderr
// on fd 4, and closing fd 5 tells the shim that the logger is ready. The
// shim passes the driver's arguments as key value pairs, in no particular
// order. Because the shim owns this process, output keeps reaching the file
// while compod is not running.
const (
	// ArgFile is the key whose value is the log file; it also marks a
	// command line as the shim logger's.
	ArgFile = "shim-logger"
	// ArgMaxSize and ArgMaxFiles are the rotation bounds (bytes, files).
	ArgMaxSize  = "max-size"
	ArgMaxFiles = "max-file"
)

// Args are the shim logger's arguments for a log file.
func Args(file string, maxSize int64, maxFiles int) map[string]string {
	a := map[string]string{ArgFile: file}
	if maxSize > 0 {
		a[ArgMaxSize] = strconv.FormatInt(maxSize, 10)
	}
	if maxFiles > 0 {
		a[ArgMaxFiles] = strconv.Itoa(maxFiles)
	}
	return a
}

// IsShimLogger tells whether args (without the program name) are a shim
// logger's command line.
func IsShimLogger(args []string) bool {
	if len(args)%2 != 0 {
		return false
	}
	for i := 0; i < len(args); i += 2 {
		if args[i] == ArgFile {
			return true
		}
	}
	return false
}

// RunShimLogger is the body of the shim logger: args (without the program
// name) are its key value pairs.
func RunShimLogger(args []string) error {
	if len(args)%2 != 0 {
		return fmt.Errorf("arguments %q: want key value pairs", args)
	}
	var file string
	var maxSize int64
	var maxFiles int
	for i := 0; i < len(args); i += 2 {
		k, v := args[i], args[i+1]
		var err error
		switch k {
		case ArgFile:
			file = v
		case ArgMaxSize:
			maxSize, err = strconv.ParseInt(v, 10, 64)
		case ArgMaxFiles:
			maxFiles, err = strconv.Atoi(v)
		default:
			err = errors.New("unknown argument")
		}
		if err != nil {
			return fmt.Errorf("argument %s %q: %w", k, v, err)
		}
	}
	if file == "" {
		return fmt.Errorf("no %s argument: the log file", ArgFile)
	}
	stdout, stderr, ready := os.NewFile(3, "stdout"), os.NewFile(4, "stderr"), os.NewFile(5, "ready")
	if stdout == nil || stderr == nil || ready == nil {
		return errors.New("the shim logger is run by the containerd shim, not by hand")
	}
	w, err := NewWriter(file, maxSize, maxFiles)
	if err != nil {
		return err
	}
	if err := ready.Close(); err != nil {
		return fmt.Errorf("signalling readiness: %w", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs[0] = Copy(w, Stdout, stdout) }()
	go func() { defer wg.Done(); errs[1] = Copy(w, Stderr, stderr) }()
	wg.Wait()
	return errors.Join(errs[0], errs[1], w.Close())
}
