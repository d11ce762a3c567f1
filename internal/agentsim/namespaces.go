package agentsim

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
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
//   - network/cni, when the ExecutorInfo carries network_infos: a network
//     namespace of the executor's own. The emulator gives it a veth to the
//     host (a /30 of 169.254.200.0/22, default route through the host end)
//     and the agent listens on every address, so the executor reaches it at
//     the host end of its veth (MESOS_AGENT_ENDPOINT), as it would reach a
//     real agent's address from a CNI network.
type Namespaces struct {
	Mount, PID, Net bool
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
	if n.Net {
		add("network/cni")
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
func (n Namespaces) wrap(cmd *exec.Cmd, netns string) error {
	if !n.Mount && !n.PID && netns == "" {
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
	if netns != "" {
		// ip netns exec enters the network namespace (and gives the
		// command a /sys of it) before unshare makes the rest.
		ip, err := exec.LookPath("ip")
		if err != nil {
			return errors.New("agentsim: a network namespace needs iproute2's ip in PATH")
		}
		args = append([]string{"ip", "netns", "exec", netns}, args...)
		unshare = ip
	}
	if cmd.Path == "" {
		return fmt.Errorf("agentsim: no executor command to wrap")
	}
	cmd.Path, cmd.Args = unshare, args
	return nil
}

// executorNet is the network namespace the emulator made for one executor.
type executorNet struct {
	name     string // ip netns name
	hostIP   string // the host end of the veth: where the agent is reached
	hostLink string
}

var netSeq atomic.Uint32

// newExecutorNet makes a network namespace with a veth to the host, lo up
// and a default route through the host end.
func newExecutorNet(containerID string) (*executorNet, error) {
	n := netSeq.Add(1) % 256 // /30s of 169.254.200.0/22
	host := fmt.Sprintf("169.254.%d.%d", 200+n/64, (n%64)*4+1)
	peer := fmt.Sprintf("169.254.%d.%d", 200+n/64, (n%64)*4+2)
	en := &executorNet{name: "agentsim-" + containerID[:8], hostIP: host, hostLink: "as" + containerID[:8]}
	steps := [][]string{
		{"netns", "add", en.name},
		{"link", "add", en.hostLink, "type", "veth", "peer", "name", "eth0", "netns", en.name},
		{"addr", "add", host + "/30", "dev", en.hostLink},
		{"link", "set", en.hostLink, "up"},
		{"-n", en.name, "addr", "add", peer + "/30", "dev", "eth0"},
		{"-n", en.name, "link", "set", "eth0", "up"},
		{"-n", en.name, "link", "set", "lo", "up"},
		{"-n", en.name, "route", "add", "default", "via", host},
	}
	for _, st := range steps {
		if out, err := exec.Command("ip", st...).CombinedOutput(); err != nil {
			en.remove()
			return nil, fmt.Errorf("agentsim: ip %s: %v: %s", strings.Join(st, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return en, nil
}

// remove deletes the namespace (its veth goes with it).
func (en *executorNet) remove() {
	if en == nil {
		return
	}
	_ = exec.Command("ip", "netns", "del", en.name).Run()
	_ = exec.Command("ip", "link", "del", en.hostLink).Run()
}
