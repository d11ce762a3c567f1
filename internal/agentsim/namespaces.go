package agentsim

import (
	"errors"
	"fmt"
	"os/exec"
)

// Namespaces are the Linux namespaces the Mesos containerizer puts an
// executor into for the isolators an operator enables:
//
//   - filesystem/linux (on whenever the agent runs container images or
//     volumes): a new mount namespace in which `/` is made rslave, so mounts
//     of the host still reach the executor but its own mounts never reach
//     the host (Mesos' LinuxFilesystemIsolator and `mesos-containerizer
//     launch`, which marks the root rslave before exec);
//   - namespaces/pid (requires filesystem/linux): a new PID namespace, the
//     executor's launcher as its init, with a fresh /proc mounted so that
//     /proc shows the container's processes only;
//
// (network/cni's own network namespace for the executor is not emulated:
// the executor would need a route to the agent's address.)
type Namespaces struct {
	Mount, PID bool
}

// Isolation names the Mesos --isolation flag value these namespaces stand
// for (with cgroups placement as cgroups/cpu,cgroups/mem).
func (n Namespaces) Isolation(cgroups bool) string {
	var out string
	add := func(s string) {
		if out != "" {
			out += ","
		}
		out += s
	}
	if n.Mount || n.PID {
		add("filesystem/linux")
	}
	if n.PID {
		add("namespaces/pid")
	}
	if cgroups {
		add("cgroups/cpu,cgroups/mem")
	}
	if out == "" {
		out = "posix/cpu,posix/mem"
	}
	return out
}

// wrap makes cmd start in the namespaces, the way mesos-containerizer
// launch does, with util-linux unshare(1) as the launch helper: it
// unshares the namespaces, marks / rslave (--propagation slave), forks
// the executor as PID 1 of the new PID namespace and mounts its /proc
// there (--mount-proc), and kills it if the helper itself is killed
// (--kill-child), as the agent's launcher does. The agent keeps track of
// the helper, which exits with the executor's status.
func (n Namespaces) wrap(cmd *exec.Cmd) error {
	if !n.Mount && !n.PID {
		return nil
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return errors.New("agentsim: namespaces need util-linux unshare(1) in PATH")
	}
	args := []string{"unshare", "--mount", "--propagation", "slave"}
	if n.PID {
		args = append(args, "--pid", "--fork", "--mount-proc", "--kill-child")
	}
	args = append(args, "--", cmd.Path)
	if len(cmd.Args) > 1 {
		args = append(args, cmd.Args[1:]...)
	}
	if cmd.Path == "" {
		return fmt.Errorf("agentsim: no executor command to wrap")
	}
	cmd.Path, cmd.Args = unshare, args
	return nil
}
