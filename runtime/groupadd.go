package runtime

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
)

// withGroupAdd adds group_add's supplementary groups to the service's
// process. Names are looked up in the image's /etc/group, as docker does,
// so this is where a group the image lacks shows; one group at a time,
// so that the error names it.
func withGroupAdd(groups []string) oci.SpecOpts {
	return func(ctx context.Context, c oci.Client, ctr *containers.Container, s *oci.Spec) error {
		for i, g := range groups {
			if err := oci.WithAppendAdditionalGroups(g)(ctx, c, ctr, s); err != nil {
				return fmt.Errorf("field \"group_add[%d]\": %q: no such group in the image's /etc/group (%v): use a group the image has, or a numeric gid", i, g, err)
			}
		}
		return nil
	}
}
