package runtime

import (
	"context"
	"fmt"
	"slices"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cap"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/compod/compod/translate"
)

// withComposeCapabilities applies a service's cap_add and cap_drop to the
// capabilities already in the spec (containerd's defaults, which are
// docker's) with docker's rules:
//   - cap_add ALL: every capability the host can grant, minus cap_drop;
//   - cap_drop ALL: only the capabilities in cap_add;
//   - otherwise: the defaults minus cap_drop, plus cap_add.
//
// The result replaces the bounding, permitted and effective sets, so a
// dropped capability is gone for good (CapEff 0 with cap_drop: [ALL]).
func withComposeCapabilities(service string, add, drop []string) oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		if len(add) == 0 && len(drop) == 0 {
			return nil
		}
		add, err := canonicalCapabilities(service, "cap_add", add)
		if err != nil {
			return err
		}
		drop, err := canonicalCapabilities(service, "cap_drop", drop)
		if err != nil {
			return err
		}
		var defaults []string
		if s.Process != nil && s.Process.Capabilities != nil {
			defaults = s.Process.Capabilities.Bounding
		}
		var all []string
		if slices.Contains(add, translate.AllCapabilities) {
			// What the host can grant: the capabilities of this (root)
			// process, as for privileged containers. A capability the
			// host lacks could not be granted anyway.
			if all, err = cap.Current(); err != nil {
				return fmt.Errorf("service %q: field \"cap_add\": reading the host's capabilities: %w", service, err)
			}
		}
		return oci.WithCapabilities(composeCapabilities(defaults, all, add, drop))(ctx, client, c, s)
	}
}

// composeCapabilities is docker's capability arithmetic on canonical names;
// all is only read when add holds ALL.
func composeCapabilities(defaults, all, add, drop []string) []string {
	var out []string
	appendCaps := func(from []string, dropped func(string) bool) {
		for _, c := range from {
			if c != translate.AllCapabilities && !dropped(c) && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	inDrop := func(c string) bool { return slices.Contains(drop, c) }
	switch {
	case slices.Contains(add, translate.AllCapabilities):
		appendCaps(all, inDrop)
	case slices.Contains(drop, translate.AllCapabilities):
		// cap_add wins over cap_drop's names here, as in docker.
		appendCaps(add, func(string) bool { return false })
	default:
		appendCaps(defaults, inDrop)
		appendCaps(add, func(string) bool { return false })
	}
	return out
}

// canonicalCapabilities spells names the OCI way. translate already did;
// this keeps a plan from elsewhere (an older record) from putting a
// literal "ALL" or "sys_admin" into a spec.
func canonicalCapabilities(service, field string, names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for i, n := range names {
		c, ok := translate.CanonicalCapability(n)
		if !ok {
			return nil, fmt.Errorf("service %q: field \"%s[%d]\": unknown capability %q", service, field, i, n)
		}
		out = append(out, c)
	}
	return out, nil
}
