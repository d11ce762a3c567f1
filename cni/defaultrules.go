package cni

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// compod's default network NATs its pods' traffic to the outside and lets
// it through the host's FORWARD chain with a few rules for the whole
// bridge, made once per host, as docker does for docker0 — not with rules
// per pod. The bridge plugin's ipMasq and the firewall plugin, which the
// default network used before (DefaultNetVersion 0), run iptables 17 times
// for every pod's ADD and about as often for its DEL, one process after
// another on the launch's critical path; the host-wide rules cost two
// `iptables -C` checks per launch.
//
// The rules (iptables, IPv4: the default network is IPv4 only):
//
//	nat     POSTROUTING -s 10.89.0.0/16 -j COMPOD-MASQ
//	        COMPOD-MASQ: -d 10.89.0.0/16 RETURN, -d 224.0.0.0/4 RETURN, MASQUERADE
//	filter  FORWARD (first) -j COMPOD-FORWARD
//	        COMPOD-FORWARD: -o compod0 RELATED,ESTABLISHED ACCEPT, -i compod0 ACCEPT
//
// which is what ipMasq and the firewall plugin did for each pod's
// address. They stay when the last pod goes (as docker's stay with
// docker0): `iptables -t nat -S COMPOD-MASQ` and `iptables -S
// COMPOD-FORWARD` show them.

const (
	defaultMasqChain    = "COMPOD-MASQ"
	defaultForwardChain = "COMPOD-FORWARD"
	defaultRulesComment = "compod default network " + DefaultSubnet
)

// defaultRulesJumps are the two rules that lead to compod's chains: a
// table and the rule's arguments after the chain it is in.
var defaultRulesJumps = []struct {
	table, chain string
	rule         []string
	insert       bool // first in its chain (else appended)
}{
	{"nat", "POSTROUTING", []string{"-s", DefaultSubnet, "-m", "comment", "--comment", defaultRulesComment, "-j", defaultMasqChain}, false},
	{"filter", "FORWARD", []string{"-m", "comment", "--comment", defaultRulesComment, "-j", defaultForwardChain}, true},
}

// defaultRulesRestore is the input of `iptables-restore --noflush` that
// (re)makes compod's chains: declaring a chain flushes it, so running it
// again gives the same rules, not twice as many.
func defaultRulesRestore() string {
	return strings.Join([]string{
		"*nat",
		":" + defaultMasqChain + " - [0:0]",
		"-A " + defaultMasqChain + " -d " + DefaultSubnet + " -j RETURN",
		"-A " + defaultMasqChain + " -d 224.0.0.0/4 -j RETURN",
		"-A " + defaultMasqChain + " -j MASQUERADE",
		"COMMIT",
		"*filter",
		":" + defaultForwardChain + " - [0:0]",
		"-A " + defaultForwardChain + " -o " + DefaultBridge + " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
		"-A " + defaultForwardChain + " -i " + DefaultBridge + " -j ACCEPT",
		"COMMIT",
		"",
	}, "\n")
}

// ensureDefaultRules makes sure compod's host-wide rules for the default
// network are in place: when both jumps are there, nothing is done (two
// checks); otherwise the chains are made anew and the missing jumps
// added. Compods on one host do this under one lock (lockDir), so that two
// never add a jump twice.
func ensureDefaultRules(lockDir string) error {
	if err := os.MkdirAll(lockDir, 0o700); err != nil {
		return fmt.Errorf("compod default network rules: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(lockDir, "rules.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("compod default network rules: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("compod default network rules: locking %s: %w", lock.Name(), err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)

	var missing []int
	for i, j := range defaultRulesJumps {
		args := append([]string{"-w", "-t", j.table, "-C", j.chain}, j.rule...)
		if err := exec.Command("iptables", args...).Run(); err != nil {
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				return fmt.Errorf("compod default network rules: iptables: %w (install iptables)", err)
			}
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	restore := exec.Command("iptables-restore", "-w", "--noflush")
	restore.Stdin = strings.NewReader(defaultRulesRestore())
	var errOut bytes.Buffer
	restore.Stderr = &errOut
	if err := restore.Run(); err != nil {
		return fmt.Errorf("compod default network rules: iptables-restore: %w: %s", err, strings.TrimSpace(errOut.String()))
	}
	for _, i := range missing {
		j := defaultRulesJumps[i]
		op := []string{"-A", j.chain}
		if j.insert {
			op = []string{"-I", j.chain, "1"}
		}
		args := append(append([]string{"-w", "-t", j.table}, op...), j.rule...)
		if out, err := exec.Command("iptables", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("compod default network rules: iptables %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
