package translate

import (
	"strings"
	"testing"
)

// network_mode host is the network host namespace: allowed_host_namespaces
// must name it, and the executor's default policy refuses it.
func TestPolicyHostNetwork(t *testing.T) {
	hostPod := func() *PodPlan {
		return &PodPlan{Name: "p", NetworkMode: "host", Services: []ServiceSpec{{Name: "web", Image: "busybox"}, {Name: "db", Image: "busybox"}}}
	}
	for _, tc := range []struct {
		name string
		plan *PodPlan
		p    Policy
		want int // violations
	}{
		{name: "no rule: allowed, as docker does", plan: hostPod(), p: Policy{}},
		{name: "empty list refuses", plan: hostPod(), p: Policy{AllowedHostNamespaces: ptr([]string{})}, want: 2},
		{name: "other namespaces refuse", plan: hostPod(), p: Policy{AllowedHostNamespaces: ptr([]string{"pid", "ipc"})}, want: 2},
		{name: "network allows", plan: hostPod(), p: Policy{AllowedHostNamespaces: ptr([]string{"network"})}},
		{name: "executor default refuses", plan: hostPod(), p: DefaultExecutorPolicy("/sandbox"), want: 2},
		{name: "a pod of its own netns needs nothing", plan: &PodPlan{Name: "p", Services: []ServiceSpec{{Name: "web", Image: "busybox"}}}, p: Policy{AllowedHostNamespaces: ptr([]string{})}},
		{name: "network_mode none needs nothing", plan: &PodPlan{Name: "p", NetworkMode: "none", Services: []ServiceSpec{{Name: "web", Image: "busybox"}}}, p: Policy{AllowedHostNamespaces: ptr([]string{})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := Check(tc.plan, tc.p)
			if len(vs) != tc.want {
				t.Fatalf("violations %+v, want %d", vs, tc.want)
			}
			for _, v := range vs {
				if v.Rule != "allowed_host_namespaces" || v.Field != "network_mode" || !strings.Contains(v.Msg, "add network to allowed_host_namespaces") {
					t.Errorf("violation %+v: want rule allowed_host_namespaces on network_mode, saying what to do", v)
				}
			}
		})
	}
}

// Through Load and Admit: a compose file with network_mode host is refused
// by a policy without network, naming the file and service.
func TestAdmitHostNetworkFromCompose(t *testing.T) {
	plan, err := loadCompose(t, "services:\n  web: {image: busybox, network_mode: host}\n")
	if err != nil {
		t.Fatal(err)
	}
	err = Admit(plan, Policy{AllowedHostNamespaces: ptr([]string{"pid"})})
	if err == nil || !IsPolicyError(err) || !strings.Contains(err.Error(), `service "web": field "network_mode": network_mode host joins the host's network namespace`) {
		t.Errorf("got %v, want a policy refusal of web's network_mode", err)
	}
	if err := Admit(plan, Policy{AllowedHostNamespaces: ptr([]string{"network"})}); err != nil {
		t.Errorf("allowed_host_namespaces [network]: %v", err)
	}
}
