package translate

import (
	"fmt"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// volumesFrom gives every service with volumes_from the mounts of the
// services it names, as docker does: the same volumes (anonymous ones
// included, so the data is shared), binds and tmpfs mounts (a tmpfs is a
// new, empty one at the same target: memory is not shared), each
// read-only when the entry says :ro and as the source mounts it
// otherwise (:rw, the default). The service's own mounts, secrets and
// configs win over inherited ones at the same target; a later entry wins
// over an earlier one. A source's own volumes_from counts: its mounts are
// resolved first, and a cycle is an error.
func (t *translator) volumesFrom(specs map[string]*ServiceSpec, names []string) {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	reported := map[string]bool{}
	var visit func(name string, path []string)
	visit = func(name string, path []string) {
		switch state[name] {
		case done:
			return
		case visiting:
			cycle := append(path[slices.Index(path, name):], name)
			key := strings.Join(sortedCopy(cycle[:len(cycle)-1]), ",")
			if !reported[key] {
				reported[key] = true
				t.fail(cycle[0], "volumes_from", "volumes_from cycle: %s", strings.Join(cycle, " → "))
			}
			return
		}
		state[name] = visiting
		defer func() { state[name] = done }()
		spec := specs[name]
		var inherited []MountSpec
		for i, entry := range t.p.Services[name].VolumesFrom {
			field := fmt.Sprintf("volumes_from[%d]", i)
			source, readOnly, ok := t.volumesFromEntry(name, field, entry, specs)
			if !ok {
				continue
			}
			visit(source, append(path, name))
			for _, m := range specs[source].Mounts {
				m.ReadOnly = m.ReadOnly || readOnly
				// A later entry replaces an earlier one's mount of the target.
				inherited = slices.DeleteFunc(inherited, func(o MountSpec) bool { return o.Target == m.Target })
				inherited = append(inherited, m)
			}
		}
		taken := map[string]bool{}
		for _, m := range spec.Mounts {
			taken[m.Target] = true
		}
		for _, f := range spec.FileMounts {
			taken[f.Target] = true
		}
		for _, m := range inherited {
			if !taken[m.Target] {
				spec.Mounts = append(spec.Mounts, m)
			}
		}
		// A parent directory is mounted before what is mounted inside it,
		// wherever the two came from.
		slices.SortStableFunc(spec.Mounts, func(a, b MountSpec) int { return pathDepth(a.Target) - pathDepth(b.Target) })
	}
	for _, n := range names {
		if len(t.p.Services[n].VolumesFrom) > 0 {
			visit(n, nil)
		}
	}
}

// volumesFromEntry parses one volumes_from entry: service[:ro|:rw].
func (t *translator) volumesFromEntry(service, field, entry string, specs map[string]*ServiceSpec) (source string, readOnly, ok bool) {
	if strings.HasPrefix(entry, types.ContainerPrefix) {
		t.fail(service, field, "%q is not supported: a pod has no containers but its services; name a service of the pod", entry)
		return "", false, false
	}
	source, mode, _ := strings.Cut(entry, ":")
	switch mode {
	case "", "rw":
	case "ro":
		readOnly = true
	default:
		t.fail(service, field, "%q: unknown mode %q: use ro or rw", entry, mode)
		return "", false, false
	}
	switch _, known := specs[source]; {
	case source == service:
		t.fail(service, field, "%q: a service cannot take the volumes of itself", entry)
		return "", false, false
	case !known:
		t.fail(service, field, "%q: service %q is not in the pod", entry, source)
		return "", false, false
	}
	return source, readOnly, true
}

func pathDepth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}
