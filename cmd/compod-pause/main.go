// Command compod-pause is PID 1 of a compod pod sandbox: it holds the pod's
// namespaces, reaps zombies re-parented to it, and exits 0 on SIGTERM or
// SIGINT. It is built static and embedded into compod as the pause image.
//
// Given a command (`compod-pause -- CMD ARGS...`) it is instead the init of
// a service with compose's `init: true`: it runs the command as its child,
// forwards every signal it gets to it, reaps the zombies re-parented to it,
// and exits with the command's status, as docker's init (tini) does. A
// service's own program then no longer runs as PID 1, which the kernel
// shields from every signal it has no handler for.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 {
		args := os.Args[1:]
		if args[0] == "--" {
			args = args[1:]
		}
		os.Exit(runInit(args))
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range sigs {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		os.Exit(0)
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// runInit runs args as the only child and returns the exit code to leave
// with: the child's, or 128 + the signal that killed it.
func runInit(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "compod-init: no command")
		return 2
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "compod-init: %v\n", err)
		return 127
	}
	// Every signal but those the kernel keeps (KILL, STOP) and SIGCHLD,
	// which is this process's own business, goes to the child.
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	proc, err := os.StartProcess(path, args, &os.ProcAttr{
		Env:   os.Environ(),
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "compod-init: starting %s: %v\n", args[0], err)
		return 126
	}
	for sig := range sigs {
		s, ok := sig.(syscall.Signal)
		if !ok {
			continue
		}
		if s != syscall.SIGCHLD {
			if s != syscall.SIGURG { // the Go runtime's own preemption signal
				syscall.Kill(proc.Pid, s)
			}
			continue
		}
		// Reap everything that exited; the child's end is the init's.
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			if pid == proc.Pid {
				if ws.Signaled() {
					return 128 + int(ws.Signal())
				}
				return ws.ExitStatus()
			}
		}
	}
	return 1
}
