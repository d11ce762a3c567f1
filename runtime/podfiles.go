package runtime

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compod/compod/translate"
)

// The pod's shared files: one /etc/hosts, /etc/resolv.conf and /etc/hostname
// for every service, as all of them share one network and UTS namespace.

// writePodFiles makes the pod's directories and /etc files. It runs after
// CNI, because /etc/hosts names the pod's IP.
func (e *Engine) writePodFiles(rec *PodRecord) error {
	plan := &rec.Plan
	dir := e.podDir(plan.Name)
	if err := mkdirMode(filepath.Join(dir, "etc"), modeEtcDir); err != nil {
		return err
	}
	if err := e.makeLogDir(rec); err != nil {
		return err
	}
	if err := e.writeFileMounts(plan); err != nil {
		return err
	}
	if rec.NetworkMode != "host" && hostGateway(rec.Networks) == "" && slices.ContainsFunc(plan.ExtraHosts, func(h translate.HostEntry) bool { return h.IP == translate.HostGateway }) {
		return fmt.Errorf("field \"extra_hosts\": host-gateway: none of the pod's networks has a gateway to the host (network_mode none, or a network whose plugin gives no gateway): give the host's IP address instead")
	}
	files := map[string][]byte{
		"hosts":       hostsFile(plan, rec.IP, rec.Networks),
		"resolv.conf": resolvConf(plan.DNS),
		"hostname":    []byte(podHostname(rec) + "\n"),
	}
	if rec.NetworkMode == "host" {
		files["hosts"] = hostNetworkHostsFile(plan, "/etc/hosts")
		files["resolv.conf"] = hostNetworkResolvConf(plan.DNS, "/etc/resolv.conf")
	}
	for _, s := range plan.Services {
		if s.Hostname != "" {
			files[hostnameFile(&s)] = []byte(s.Hostname + "\n")
		}
	}
	for name, data := range files {
		if err := writeFileMode(filepath.Join(dir, "etc", name), data, modeEtcFile); err != nil {
			return fmt.Errorf("writing pod %s: %w", name, err)
		}
	}
	return nil
}

// podHostname is the pod's hostname; with network_mode host it is the
// host's, as docker's.
func podHostname(rec *PodRecord) string {
	if rec.NetworkMode == "host" {
		if h, err := os.Hostname(); err == nil {
			return h
		}
	}
	return rec.Plan.Hostname
}

// hostNetworkHostsFile is /etc/hosts of a network_mode host pod: the
// host's, as docker's, then the service names (the services still reach
// each other over localhost) and extra_hosts.
func hostNetworkHostsFile(plan *translate.PodPlan, hostPath string) []byte {
	var b bytes.Buffer
	if data, err := os.ReadFile(hostPath); err == nil {
		b.Write(data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			b.WriteByte('\n')
		}
	} else {
		b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	}
	names := make([]string, 0, len(plan.Services))
	for _, s := range plan.Services {
		names = append(names, s.Name)
	}
	if len(names) > 0 {
		fmt.Fprintf(&b, "127.0.0.1\t%s\n", strings.Join(names, " "))
	}
	for _, h := range plan.ExtraHosts {
		ip := h.IP
		if ip == translate.HostGateway {
			ip = "127.0.0.1" // the pod is in the host's netns
		}
		fmt.Fprintf(&b, "%s\t%s\n", ip, h.Host)
	}
	return b.Bytes()
}

// hostNetworkResolvConf is resolv.conf of a network_mode host pod: the
// host's as it is (a loopback resolver is the host's, and reachable), or
// the compose dns settings when there are any.
func hostNetworkResolvConf(dns translate.DNSConfig, hostPath string) []byte {
	if len(dns.Servers) > 0 || len(dns.Search) > 0 || len(dns.Options) > 0 {
		return resolvConf(dns)
	}
	data, err := os.ReadFile(hostPath)
	if err != nil {
		return nil
	}
	return data
}

// hostsFile resolves localhost, the pod's and the services' hostnames,
// every service name and container_name (to the pod's address) and the
// network aliases (to the pod's address on their network).
func hostsFile(plan *translate.PodPlan, ip string, nets []NetworkAttachment) []byte {
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	// The pod's hostname, the services' own, every service name and
	// container_name: the pod's address, as docker resolves a service to
	// its container's (a server bound to its name's address is then also
	// reached through a published port); loopback without a network.
	addr := ip
	if addr == "" {
		addr = "127.0.0.1"
	}
	names := []string{plan.Hostname}
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, s := range plan.Services {
		add(s.Hostname)
	}
	for _, s := range plan.Services {
		add(s.Name)
	}
	for _, n := range plan.ContainerNames {
		add(n)
	}
	fmt.Fprintf(&b, "%s\t%s\n", addr, strings.Join(names, " "))
	for _, n := range nets {
		if n.IP != "" && len(n.Aliases) > 0 {
			fmt.Fprintf(&b, "%s\t%s\n", n.IP, strings.Join(n.Aliases, " "))
		}
	}
	for _, h := range plan.ExtraHosts {
		ip := h.IP
		if ip == translate.HostGateway {
			// docker's host-gateway: the host's address on the pod's
			// network, the first network that has a gateway.
			if ip = hostGateway(nets); ip == "" {
				continue // writePodFiles refused this already
			}
		}
		fmt.Fprintf(&b, "%s\t%s\n", ip, h.Host)
	}
	return b.Bytes()
}

// hostGateway is the gateway of the pod's first network that has one.
func hostGateway(nets []NetworkAttachment) string {
	for _, n := range nets {
		if n.Gateway != "" {
			return n.Gateway
		}
	}
	return ""
}

// resolvConf writes the compose dns settings, or the host's resolver
// without loopback nameservers (they mean nothing inside the pod's netns).
func resolvConf(dns translate.DNSConfig) []byte {
	servers, search, options := dns.Servers, dns.Search, dns.Options
	if len(servers) == 0 {
		hs, hsearch, hopts := hostResolvConf("/etc/resolv.conf")
		servers = hs
		if len(search) == 0 {
			search = hsearch
		}
		if len(options) == 0 {
			options = hopts
		}
	}
	var b bytes.Buffer
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.Bytes()
}

func hostResolvConf(path string) (servers, search, options []string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if ip := net.ParseIP(f[1]); ip != nil && !ip.IsLoopback() {
				servers = append(servers, f[1])
			}
		case "search", "domain":
			search = f[1:]
		case "options":
			options = f[1:]
		}
	}
	return servers, search, options
}
