package cni

import (
	"bytes"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"

	"github.com/containernetworking/cni/libcni"
	shellwords "github.com/mattn/go-shellwords"
)

// teardownIPMasq removes the masquerade chain that the bridge and ptp
// plugins make for a pod with ipMasq, and the POSTROUTING rule jumping to it.
//
// Why compod does this itself: containernetworking-plugins 1.1.1 (Debian 12)
// tear that chain down on DEL only when the netns still exists and still has
// the pod's interface (they learn the address from the interface), so a DEL
// after the netns is gone, or after a DEL that failed half-way, leaks it for
// good. The chain's name is a hash of network name and pod id, so it can be
// found without the netns. Idempotent: no chain, nothing to do.
func teardownIPMasq(list *libcni.NetworkConfigList, podID string) error {
	masq := false
	for _, p := range list.Plugins {
		if p.Network.Type != "bridge" && p.Network.Type != "ptp" {
			continue
		}
		var c struct {
			IPMasq bool `json:"ipMasq"`
		}
		if json.Unmarshal(p.Bytes, &c) == nil && c.IPMasq {
			masq = true
		}
	}
	if !masq {
		return nil
	}
	chain := masqChainName(list.Name, podID)
	if _, err := exec.LookPath("iptables"); err != nil {
		return fmt.Errorf("removing masquerade chain %s: %w (install iptables)", chain, err)
	}
	if err := removeChain("iptables", chain); err != nil {
		return err
	}
	// IPv6 pods get the same chain in ip6tables; without IPv6 NAT support
	// on the host there is nothing to remove.
	if _, err := exec.LookPath("ip6tables"); err == nil {
		if _, err := iptables("ip6tables", "-S", "POSTROUTING"); err == nil {
			return removeChain("ip6tables", chain)
		}
	}
	return nil
}

// masqChainName is containernetworking/plugins' utils.FormatChainName (same
// in 1.1.1 and 1.9): "CNI-" + sha512(name+id) in hex, 28 characters. Not
// imported, because that package drags in netlink, go-iptables and
// knftables.
func masqChainName(name, id string) string {
	return fmt.Sprintf("CNI-%x", sha512.Sum512([]byte(name+id)))[:28]
}

func removeChain(bin, chain string) error {
	if _, err := iptables(bin, "-S", chain); err != nil {
		return nil // no such chain
	}
	rules, err := iptables(bin, "-S", "POSTROUTING")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(rules, "\n") {
		args, err := shellwords.Parse(line)
		if err != nil || len(args) < 2 || args[0] != "-A" || !jumpsTo(args, chain) {
			continue
		}
		args[0] = "-D"
		if _, err := iptables(bin, args...); err != nil {
			return err
		}
	}
	if _, err := iptables(bin, "-F", chain); err != nil {
		return err
	}
	if _, err := iptables(bin, "-X", chain); err != nil {
		return err
	}
	return nil
}

func jumpsTo(args []string, chain string) bool {
	for i := 0; i+1 < len(args); i++ {
		if (args[i] == "-j" || args[i] == "-g") && args[i+1] == chain {
			return true
		}
	}
	return false
}

// iptables runs bin -w -t nat args... and returns its stdout.
func iptables(bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, append([]string{"-w", "-t", "nat"}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s -t nat %s: %w: %s", bin, strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}
