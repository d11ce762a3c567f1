// Command compod runs a Docker Compose pod on containerd, standalone
// (up/down/ps/logs) or as a Mesos executor. This package only wires flags
// and configuration to the translate and runtime packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/compod/compod/runtime"
)

func main() {
	// containerd starts compod with key value pairs for these two: they
	// skip building the command tree.
	// The containerd shim starts compod as a task's log writer when the
	// small embedded one cannot run (runtime/logwriter.go), and pods of an
	// older compod still name compod itself as theirs.
	if runtime.IsShimLogger(os.Args[1:]) {
		if err := runtime.RunShimLogger(os.Args[1:]); err != nil {
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

// exitError carries a process exit code (a service's exit code, for `up`).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError is a command used wrongly: exit code 2, with a pointer to
// the command's help.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// run executes the command line args and returns the exit code: 0, the
// failing service's code (up), 2 for a usage error, 1 for any other error.
func run(ctx context.Context, args []string) int {
	root, _ := newCommandTree()
	// Errors before a command's own code runs are cobra's: an unknown
	// command or flag, a bad flag value, wrong arguments.
	started := false
	root.PersistentPreRun = func(*cobra.Command, []string) { started = true }
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	var ee exitError
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue) || !started:
		fmt.Fprintf(os.Stderr, "%s: %v\nSee '%s --help'.\n", cmd.CommandPath(), err, cmd.CommandPath())
		return 2
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", cmd.CommandPath(), err)
	return 1
}

// newCommandTree builds the commands, with the global settings their
// flags fill in.
func newCommandTree() (*cobra.Command, *globals) {
	g := newGlobals()
	root := &cobra.Command{
		Use:   "compod",
		Short: "compod runs a Docker Compose pod on containerd",
		Long: `compod runs a Docker Compose pod on containerd: every service is a
containerd task, all share a network namespace wired by CNI. The same pod
runs standalone (up, down, ps, logs) or as an Apache Mesos task (executor).

Every global flag can be given before or after the command, and defaults to
its environment variable when that is set.`,
		// Without a command: the help, as a usage error. (An unknown
		// command is refused by cobra, with suggestions.)
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(os.Stderr)
			cmd.Help()
			return exitError{2}
		},
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       versionString(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.PersistentFlags().AddFlagSet(g.flags)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newUpCommand(g),
		newDownCommand(g),
		newPsCommand(g),
		newLogsCommand(g),
		newConfigCommand(g),
		newGCCommand(g),
		newVolumeCommand(g),
		newValidateCommand(),
		newNetworkCommand(g),
		newExecutorCommand(g),
		newVersionCommand(),
		newSuperviseCommand(g),
	)
	return root, g
}

// noArgs refuses positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("no arguments expected, got %q", args)
	}
	return nil
}
