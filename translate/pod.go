package translate

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// containerNameRe is docker's rule for container names.
var containerNameRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// podWide merges the settings that belong to the pod, not to one service:
// one resolv.conf and one /etc/hosts, and the pod's hostname (the first
// service's that sets one, else the pod's name), which services share
// unless they set another (serviceHostnames). Services may repeat a
// value; they may not disagree.
func (t *translator) podWide(plan *PodPlan, names []string) {
	plan.Hostname = plan.Name
	for _, name := range names {
		if h := t.p.Services[name].Hostname; h != "" {
			plan.Hostname = h
			break
		}
	}

	// container_name: docker's container name rule; one name, one service.
	owner := map[string]string{}
	for _, name := range names {
		owner[name] = name
	}
	for _, name := range names {
		cn := t.p.Services[name].ContainerName
		if cn == "" || cn == name {
			continue
		}
		if !containerNameRe.MatchString(cn) {
			t.fail(name, "container_name", "invalid container name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", cn)
			continue
		}
		if other, taken := owner[cn]; taken {
			t.fail(name, "container_name", "%q is already the name of service %q", cn, other)
			continue
		}
		owner[cn] = name
		plan.ContainerNames = append(plan.ContainerNames, cn)
	}
	sort.Strings(plan.ContainerNames)

	dns := []struct {
		field string
		get   func(string) []string
		dst   *[]string
	}{
		{"dns", func(n string) []string { return t.p.Services[n].DNS }, &plan.DNS.Servers},
		{"dns_search", func(n string) []string { return t.p.Services[n].DNSSearch }, &plan.DNS.Search},
		{"dns_opt", func(n string) []string { return t.p.Services[n].DNSOpts }, &plan.DNS.Options},
	}
	for _, d := range dns {
		from := ""
		for _, name := range names {
			v := d.get(name)
			if len(v) == 0 {
				continue
			}
			if from == "" {
				*d.dst, from = append([]string{}, v...), name
				continue
			}
			if !slices.Equal(v, *d.dst) {
				t.fail(name, d.field, "[%s] conflicts with %s [%s] of service %q: all services of a pod share one resolv.conf", strings.Join(v, " "), d.field, strings.Join(*d.dst, " "), from)
			}
		}
	}
	for i, s := range plan.DNS.Servers {
		if net.ParseIP(s) == nil {
			t.fail(t.firstWith(names, func(n string) bool { return slices.Contains(t.p.Services[n].DNS, s) }), fmt.Sprintf("dns[%d]", i), "invalid DNS server address %q", s)
		}
	}

	seen := map[HostEntry]bool{}
	for _, name := range names {
		hosts := t.p.Services[name].ExtraHosts
		keys := make([]string, 0, len(hosts))
		for h := range hosts {
			keys = append(keys, h)
		}
		sort.Strings(keys)
		for _, h := range keys {
			for _, ip := range hosts[h] {
				e := HostEntry{Host: h, IP: strings.Trim(ip, "[]")}
				switch {
				case e.IP == HostGateway:
					// The runtime puts the host's address on the pod's
					// network in its place (runtime/podfiles.go).
				case net.ParseIP(e.IP) == nil:
					t.fail(name, "extra_hosts", "invalid IP address %q for host %q", ip, h)
					continue
				case seen[e]:
					continue
				}
				seen[e] = true
				plan.ExtraHosts = append(plan.ExtraHosts, e)
			}
		}
	}
}

// serviceHostnames gives a service whose hostname differs from the pod's
// its own (ServiceSpec.Hostname): as under docker compose, each service
// then answers `hostname` with its own name, and every name resolves in
// the pod. With network_mode host the hostname is the host's (warned).
func (t *translator) serviceHostnames(plan *PodPlan) {
	if plan.NetworkMode == "host" {
		return
	}
	for i := range plan.Services {
		if h := t.p.Services[plan.Services[i].Name].Hostname; h != "" && h != plan.Hostname {
			plan.Services[i].Hostname = h
		}
	}
}

func (t *translator) firstWith(names []string, ok func(string) bool) string {
	for _, n := range names {
		if ok(n) {
			return n
		}
	}
	return ""
}
