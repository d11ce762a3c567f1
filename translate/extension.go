package translate

import "sort"

// extensionKey is compod's own top-level compose extension. Other tools
// ignore x-* keys, so a file that uses it still runs under docker compose.
const extensionKey = "x-compod"

// podExtension is what x-compod says about the pod:
//
//	x-compod:
//	  share_pid: true   # every service in the pod's one PID namespace
type podExtension struct {
	// SharePID puts every service (but those with pid: host) in the pod's
	// PID namespace, the pause container's: they see and may signal each
	// other's processes, as the containers of a Kubernetes pod with
	// shareProcessNamespace do.
	SharePID bool
}

// podExtension reads x-compod; an unknown key or a value of the wrong type
// is an error (a misspelt option must not be silently ignored).
func (t *translator) podExtension() podExtension {
	var ext podExtension
	raw, ok := t.p.Extensions[extensionKey]
	if !ok || raw == nil {
		return ext
	}
	m, ok := raw.(map[string]any)
	if !ok {
		t.fail("", extensionKey, "want a mapping, such as {share_pid: true}")
		return ext
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field := extensionKey + "." + k
		switch k {
		case "share_pid":
			b, ok := m[k].(bool)
			if !ok {
				t.fail("", field, "%v: want true or false", m[k])
				continue
			}
			ext.SharePID = b
		default:
			t.fail("", field, "unknown key %q: compod knows share_pid", k)
		}
	}
	return ext
}
