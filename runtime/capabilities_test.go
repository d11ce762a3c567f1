package runtime

import (
	"context"
	"slices"
	"testing"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cap"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/compod/compod/translate"
)

// dockerDefaultCaps is the set docker (and containerd's default spec)
// gives a container; the "nothing" case below checks that the executor's
// default admission policy (which allows cap_add of these) names it right.
var dockerDefaultCaps = translate.DockerDefaultCapabilities

// The spec a service gets from cap_add / cap_drop, as written in compose,
// and the seccomp profile computed after them (the order serviceSpecOpts
// uses). Checked from inside containers by TestCapabilities.
func TestCapabilitySpec(t *testing.T) {
	host, err := cap.Current()
	if err != nil {
		t.Fatal(err)
	}
	without := func(from []string, drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(from), func(c string) bool { return slices.Contains(drop, c) })
	}
	for _, tt := range []struct {
		name      string
		add, drop []string
		want      []string
	}{
		{"nothing", nil, nil, dockerDefaultCaps},
		{"drop ALL", nil, []string{"ALL"}, nil},
		{"drop all, lowercase", nil, []string{"all"}, nil},
		{"drop ALL, add some back", []string{"net_bind_service", "CAP_KILL"}, []string{"ALL", "kill"}, []string{"CAP_NET_BIND_SERVICE", "CAP_KILL"}},
		{"add ALL", []string{"ALL"}, nil, host},
		{"add ALL, drop one", []string{"all"}, []string{"sys_admin"}, without(host, "CAP_SYS_ADMIN")},
		{"add and drop, any spelling", []string{"sys_admin", "Cap_Net_Admin"}, []string{"NET_RAW", "cap_mknod"},
			append(without(dockerDefaultCaps, "CAP_NET_RAW", "CAP_MKNOD"), "CAP_SYS_ADMIN", "CAP_NET_ADMIN")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := namespaces.WithNamespace(context.Background(), "test")
			s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "c"},
				withComposeCapabilities("svc", tt.add, tt.drop), seccomp.WithDefaultProfile())
			if err != nil {
				t.Fatal(err)
			}
			c := s.Process.Capabilities
			for set, got := range map[string][]string{"bounding": c.Bounding, "effective": c.Effective, "permitted": c.Permitted} {
				if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tt.want))) {
					t.Errorf("%s = %v, want %v", set, got, tt.want)
				}
			}
			if slices.Contains(c.Bounding, "ALL") {
				t.Errorf("the literal ALL is in the spec: %v", c.Bounding)
			}
			mountAllowed := false
			for _, sc := range s.Linux.Seccomp.Syscalls {
				if slices.Contains(sc.Names, "mount") && sc.Action == "SCMP_ACT_ALLOW" {
					mountAllowed = true
				}
			}
			if wantMount := slices.Contains(tt.want, "CAP_SYS_ADMIN"); mountAllowed != wantMount {
				t.Errorf("seccomp allows mount: %v, want %v (CAP_SYS_ADMIN granted: %v)", mountAllowed, wantMount, wantMount)
			}
		})
	}
}

func TestCapabilitySpecRejectsUnknownName(t *testing.T) {
	ctx := namespaces.WithNamespace(context.Background(), "test")
	_, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "c"}, withComposeCapabilities("web", []string{"NET_ADMIN", "NET_FOO"}, nil))
	if err == nil || err.Error() != `service "web": field "cap_add[1]": unknown capability "NET_FOO"` {
		t.Errorf("error = %v, want one naming service web, field cap_add[1] and NET_FOO", err)
	}
}
