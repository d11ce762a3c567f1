package cni_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/compod/compod/cni"
	"github.com/compod/compod/cni/cnitest"
)

// iptablesRules is `iptables -t table -S chain`, one rule a line.
func iptablesRules(t *testing.T, table, chain string) []string {
	t.Helper()
	out, err := exec.Command("iptables", "-w", "-t", table, "-S", chain).Output()
	if err != nil {
		t.Fatalf("iptables -t %s -S %s: %v", table, chain, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// jumpsTo counts the rules of table/chain that jump to target.
func jumpsTo(t *testing.T, table, chain, target string) int {
	t.Helper()
	n := 0
	for _, r := range iptablesRules(t, table, chain) {
		if strings.HasSuffix(r, "-j "+target) {
			n++
		}
	}
	return n
}

// outsideNetwork is a network namespace reached through the host, as a
// host on the operator's LAN would be: a veth pair whose host end is
// 10.199.0.1/30 and far end 10.199.0.2/30. The pods' traffic to it is
// forwarded by the host, through its FORWARD and POSTROUTING chains.
func outsideNetwork(t *testing.T, pinDir string) (path, far string) {
	t.Helper()
	path = pin(t, pinDir, "outside")
	host, peer := "cpdouth", "cpdouto"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	exec.Command("ip", "link", "del", host).Run() // a run that was killed
	// Made inside the netns, its host end moved to this process's netns
	// (the host's, whose iptables forward the pods' traffic).
	run("nsenter", "--net="+path, "ip", "link", "add", peer, "type", "veth", "peer", "name", host, "netns", fmt.Sprint(os.Getpid()))
	t.Cleanup(func() { exec.Command("ip", "link", "del", host).Run() })
	run("ip", "addr", "add", "10.199.0.1/30", "dev", host)
	run("ip", "link", "set", host, "up")
	run("nsenter", "--net="+path, "ip", "addr", "add", "10.199.0.2/30", "dev", peer)
	run("nsenter", "--net="+path, "ip", "link", "set", peer, "up")
	return path, "10.199.0.2"
}

// compod's default network NATs and forwards its pods' traffic with
// host-wide rules, not per-pod ones: after a pod's ADD the two jumps are
// there once, the pod has no masquerade chain of its own, and a
// connection from the pod to an address beyond the host leaves with the
// host's address (MASQUERADE) and gets its answer (FORWARD). The rules are
// made again when someone removed them (a firewall reload), never twice,
// and stay when the pods go.
func TestDefaultNetworkHostRules(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	stateDir, pinDir := newStateDir(t), newNetNSDir(t)
	before := cnitest.Snapshot(t, stateDir, pinDir)
	outside, far := outsideNetwork(t, pinDir)
	var l net.Listener
	inNetNS(t, outside, func() (err error) {
		l, err = net.Listen("tcp", far+":0")
		return err
	})
	defer l.Close()
	peers := make(chan string, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			peers <- c.RemoteAddr().(*net.TCPAddr).IP.String()
			fmt.Fprintln(c, "hello from outside")
			c.Close()
		}
	}()

	n := newNetwork(t, stateDir)
	// Someone removed the jump (e.g. `iptables -t nat -F POSTROUTING`):
	// the next ADD puts it back.
	exec.Command("iptables", "-w", "-t", "nat", "-D", "POSTROUTING", "-s", cni.DefaultSubnet, "-m", "comment", "--comment", "compod default network "+cni.DefaultSubnet, "-j", "COMPOD-MASQ").Run()
	var atts []*cni.Attachment
	var paths, ids []string
	for i := range 2 {
		path, id := pin(t, pinDir, fmt.Sprintf("rules%d", i)), podID(t)
		att, err := n.Setup(ctx, id, path, nil)
		if err != nil {
			t.Fatalf("Setup: %v", err)
		}
		atts, paths, ids = append(atts, att), append(paths, path), append(ids, id)
	}
	if got := jumpsTo(t, "nat", "POSTROUTING", "COMPOD-MASQ"); got != 1 {
		t.Errorf("POSTROUTING jumps to COMPOD-MASQ %d times, want once", got)
	}
	if got := jumpsTo(t, "filter", "FORWARD", "COMPOD-FORWARD"); got != 1 {
		t.Errorf("FORWARD jumps to COMPOD-FORWARD %d times, want once", got)
	}
	if first := iptablesRules(t, "filter", "FORWARD"); len(first) < 2 || !strings.HasSuffix(first[1], "-j COMPOD-FORWARD") {
		t.Errorf("COMPOD-FORWARD is not the first rule of FORWARD (a DROP before it would win): %v", first)
	}
	for _, r := range iptablesRules(t, "nat", "POSTROUTING") {
		for _, att := range atts {
			if strings.Contains(r, att.IP+"/32") {
				t.Errorf("the pod %s has a masquerade rule of its own: %s", att.IP, r)
			}
		}
	}

	// The pod reaches the outside, which sees the host's address.
	var conn net.Conn
	inNetNS(t, paths[0], func() (err error) {
		conn, err = net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
		return err
	})
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if err != nil || line != "hello from outside\n" {
		t.Fatalf("the pod's connection to %s got %q, %v", l.Addr(), line, err)
	}
	if peer := <-peers; peer != "10.199.0.1" {
		t.Errorf("the outside saw the pod's connection come from %s, want the host's 10.199.0.1 (masqueraded; the pod is %s)", peer, atts[0].IP)
	}

	for i, path := range paths {
		if err := n.Remove(ctx, ids[i], path, nil); err != nil {
			t.Fatalf("Remove: %v", err)
		}
		if err := cni.ReleaseNetNS(path); err != nil {
			t.Fatal(err)
		}
	}
	if jumpsTo(t, "nat", "POSTROUTING", "COMPOD-MASQ") != 1 || jumpsTo(t, "filter", "FORWARD", "COMPOD-FORWARD") != 1 {
		t.Error("the host-wide rules went with the pods")
	}
	l.Close()
	exec.Command("ip", "link", "del", "cpdouth").Run()
	if err := cni.ReleaseNetNS(outside); err != nil {
		t.Fatal(err)
	}
	before.AssertNoLeak(t, cnitest.Snapshot(t, stateDir, pinDir))
}
