package translate

import (
	"slices"
	"strings"
)

// hostNamespaceRule judges what a pod asks of the host's namespaces:
// network_mode host is the "network" host namespace. It is the pod's (the
// services share one network namespace), and every service sets it, so
// each service that asks for it is named.
func (c *checker) hostNamespaces() {
	if c.p.AllowedHostNamespaces == nil || c.plan.NetworkMode != "host" {
		return
	}
	allowed := *c.p.AllowedHostNamespaces
	if slices.Contains(allowed, "network") {
		return
	}
	list := "none are allowed"
	if len(allowed) > 0 {
		list = "allowed: " + strings.Join(allowed, ", ")
	}
	for _, s := range c.plan.Services {
		c.deny(s.Name, "network_mode", "allowed_host_namespaces",
			"network_mode host joins the host's network namespace, which the policy does not allow (%s); add network to allowed_host_namespaces, or remove network_mode", list)
	}
}

// hostPID judges pid: host (also reached through pid: service:NAME of a
// service with pid: host): the "pid" host namespace.
func (c *checker) hostPID(s *ServiceSpec) {
	if c.p.AllowedHostNamespaces == nil || s.PID != PIDHost || slices.Contains(*c.p.AllowedHostNamespaces, "pid") {
		return
	}
	list := "none are allowed"
	if allowed := *c.p.AllowedHostNamespaces; len(allowed) > 0 {
		list = "allowed: " + strings.Join(allowed, ", ")
	}
	c.deny(s.Name, "pid", "allowed_host_namespaces",
		"pid host joins the host's PID namespace, which the policy does not allow (%s); add pid to allowed_host_namespaces, or remove pid", list)
}
