package translate

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// The policy's devices and oom_score_adj rules.
//
// allowed_devices entries are host device paths (/dev/fuse), CDI device
// names (nvidia.com/gpu=0), prefixes of either ending in * (/dev/snd/*,
// nvidia.com/gpu=*), or * for any. A device is judged by its
// resolved host path, as bind sources are (a symlink /dev/disk/by-id/x
// is the /dev/sdX it points at), and the plan then gives that path, so
// that what was judged is what the service gets.
//
// min_oom_score_adj is the lowest oom_score_adj a service may set: below
// 0, the kernel kills the service after other processes of the host when
// memory runs out.

func (c *checker) devices(s *ServiceSpec) {
	if c.p.AllowedDevices == nil {
		return
	}
	for i := range s.Devices {
		d := &s.Devices[i]
		field := fmt.Sprintf("devices[%d]", i)
		resolved, err := ResolveHostPath("/", d.Source)
		if err != nil {
			c.deny(s.Name, field, "allowed_devices", "device %s cannot be judged: %v", d.Source, err)
			continue
		}
		what := "device " + resolved
		if resolved != d.Source {
			what += " (" + d.Source + " resolved)"
			if d.Target == d.Source {
				d.Target = filepath.Clean(d.Source) // the path the user named, in the container
			}
		}
		d.Source = resolved
		if slices.ContainsFunc(*c.p.AllowedDevices, func(a string) bool { return deviceAllowedBy(resolved, a) }) {
			continue
		}
		allowed := "no devices are allowed"
		if len(*c.p.AllowedDevices) > 0 {
			allowed = "allowed: " + strings.Join(*c.p.AllowedDevices, ", ")
		}
		c.deny(s.Name, field, "allowed_devices", "%s is not allowed (%s)", what, allowed)
	}
	// CDI devices (GPUs, ...) are judged by their names: nvidia.com/gpu=0,
	// a prefix ending in * (nvidia.com/gpu=*), or *.
	for _, name := range s.CDIDevices {
		if slices.ContainsFunc(*c.p.AllowedDevices, func(a string) bool { return deviceAllowedBy(name, a) }) {
			continue
		}
		allowed := "no devices are allowed"
		if len(*c.p.AllowedDevices) > 0 {
			allowed = "allowed: " + strings.Join(*c.p.AllowedDevices, ", ")
		}
		c.deny(s.Name, "devices", "allowed_devices", "CDI device %s is not allowed (%s)", name, allowed)
	}
}

func deviceAllowedBy(path, pattern string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(path, prefix)
	}
	return path == filepath.Clean(pattern)
}

func (c *checker) oomScoreAdj(s *ServiceSpec) {
	if c.p.MinOOMScoreAdj == nil || s.OOMScoreAdj >= *c.p.MinOOMScoreAdj {
		return
	}
	c.deny(s.Name, "oom_score_adj", "min_oom_score_adj", "%d is below the minimum of %d: the service would outlive other processes of the host when memory runs out", s.OOMScoreAdj, *c.p.MinOOMScoreAdj)
}

// validateDeviceRules checks the spelling of allowed_devices and
// min_oom_score_adj.
func (p *Policy) validateDeviceRules(bad func(key, format string, args ...any)) {
	for i, d := range deref(p.AllowedDevices) {
		prefix := strings.TrimSuffix(d, "*")
		if d == "*" {
			continue
		}
		if IsCDIName(prefix) || (strings.HasSuffix(d, "*") && strings.Contains(prefix, "/") && !filepath.IsAbs(prefix)) {
			continue // a CDI device name, or a prefix of one (nvidia.com/gpu=*)
		}
		if strings.Contains(prefix, "*") || !filepath.IsAbs(prefix) {
			bad(fmt.Sprintf("allowed_devices[%d]", i), "%q: want a host device's absolute path (/dev/fuse), a prefix of one ending in * (/dev/snd/*), a CDI device name (nvidia.com/gpu=0) or a prefix of one (nvidia.com/gpu=*), or *", d)
		}
	}
	if m := p.MinOOMScoreAdj; m != nil && (*m < -1000 || *m > 1000) {
		bad("min_oom_score_adj", "%d is out of range: want -1000 to 1000", *m)
	}
}
