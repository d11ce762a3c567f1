// Command compod runs a Docker Compose pod on containerd, standalone
// (up/down/ps/logs) or as a Mesos executor. This package only wires flags
// and configuration to the translate and runtime packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/compod/compod/runtime"
)

const usage = `compod runs a Docker Compose pod on containerd.

Usage:
  compod up     -f FILE [-f FILE ...] [-p NAME] [--env-file F] [--profile P] [--pull missing|always|never] [--timeout D] [-d]
  compod down   [-p NAME | -f FILE ...] [-t SECONDS]
  compod ps     [-p NAME] [--format table|json]
  compod logs   -p NAME [SERVICE] [-f]
  compod gc     [--dry-run] [--format table|json]   remove pods whose owner is gone
  compod supervise -p NAME                          re-attach a supervisor to an unsupervised pod
  compod version

Global flags (any command):
  --address       containerd socket     (env CONTAINERD_ADDRESS, default /run/containerd/containerd.sock)
  --namespace     containerd namespace  (env CONTAINERD_NAMESPACE, default compod)
  --state-dir     pod records and logs  (env COMPOD_STATE_DIR, default /var/lib/compod)
  --cni-conf-dir  CNI conf dir          (env COMPOD_CNI_CONF_DIR, default: compod's own bridge network)
  --cni-bin-dir   CNI plugin dirs       (env COMPOD_CNI_BIN_DIR, default /opt/cni/bin:/usr/lib/cni)
  --log-level     debug|info|warn|error (env COMPOD_LOG_LEVEL, default info)
`

// exitError carries a process exit code (a service's exit code, for `up`).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	// The containerd shim starts compod as the tasks' log writer.
	if len(os.Args) == 3 && os.Args[1] == runtime.ShimLoggerCommand {
		if err := runtime.RunShimLogger(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "compod shim-logger:", err)
			os.Exit(1)
		}
		return
	}
	// containerd runs compod as the host network helper of a pod when
	// compod itself lives in other namespaces (runtime/hosthelper.go).
	if len(os.Args) == 3 && os.Args[1] == runtime.HostNetworkCommand {
		if err := runtime.RunHostNetwork(context.Background(), os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "compod host-network:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(run(context.Background(), os.Args[1:]))
}

func run(ctx context.Context, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	commands := map[string]func(context.Context, []string) error{
		"up":       cmdUp,
		"down":     cmdDown,
		"ps":       cmdPs,
		"logs":     cmdLogs,
		"gc":       cmdGC,
		"version":  cmdVersion,
		"executor": cmdExecutor,
		// Also started by `up -d` (with --owner-fd) to keep supervising
		// the pod.
		"supervise": cmdSupervise,
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "compod: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	err := cmd(ctx, args[1:])
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(os.Stderr, "compod %s: %v\n", args[0], err)
	return 1
}

var errUsage = errors.New("usage")

// Version is set at build time.
var Version = "dev"

func cmdVersion(context.Context, []string) error {
	fmt.Println("compod", Version)
	return nil
}
