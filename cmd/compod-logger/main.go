// Command compod-logger is the log writer the containerd shim runs for each
// task of a compod pod (containerd's binary log driver): it writes the
// task's stdout and stderr into the service's one log file and rotates it
// (internal/logfile). It is built static and embedded into compod, which
// writes it into its state dir at first use: a process of ~2 MiB instead of
// the full compod binary (~21 MiB) per task.
package main

import (
	"fmt"
	"os"

	"github.com/compod/compod/internal/logfile"
)

func main() {
	if err := logfile.RunShimLogger(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "compod-logger:", err)
		os.Exit(1)
	}
}
