package translate

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// devices translates devices: host device paths, each "SOURCE[:TARGET
// [:PERMISSIONS]]" or in the long syntax. The host is read only at run
// time: whether the source exists and is a device is the runtime's to
// say (and the admission policy's, which judges the resolved path).
func (t *translator) devices(s *types.ServiceConfig) []DeviceSpec {
	var out []DeviceSpec
	for i, d := range s.Devices {
		field := fmt.Sprintf("devices[%d]", i)
		src, dst, perms := d.Source, d.Target, d.Permissions
		// docker reads "/dev/x:rw" as the device at the same path with
		// permissions rw; compose-go takes rw for the target.
		if dst != "" && !path.IsAbs(dst) && validDevicePermissions(dst) && (perms == "" || perms == "rwm") {
			dst, perms = "", dst
		}
		if dst == "" {
			dst = src
		}
		if perms == "" {
			perms = "rwm"
		}
		switch {
		case src == "":
			t.fail(s.Name, field, "no source: name a host device such as /dev/fuse")
			continue
		case IsCDIName(src):
			continue // a CDI device (cdi.go)
		case !path.IsAbs(src) && strings.Contains(src, "="):
			t.fail(s.Name, field, "%q is not a CDI device name (vendor.com/class=name, as nvidia.com/gpu=0) nor a host device's path", src)
			continue
		case !path.IsAbs(src):
			t.fail(s.Name, field, "source %q is not an absolute path of a host device", src)
			continue
		case !path.IsAbs(dst):
			t.fail(s.Name, field, "target %q is not an absolute path", dst)
			continue
		case !validDevicePermissions(perms):
			t.fail(s.Name, field, "permissions %q: use some of r (read), w (write) and m (mknod), as rwm", perms)
			continue
		}
		// compose-go keeps one device per target already (the last).
		out = append(out, DeviceSpec{Source: path.Clean(src), Target: path.Clean(dst), Permissions: perms})
	}
	return out
}

// validDevicePermissions: a non-empty subset of "rwm", each letter once.
func validDevicePermissions(p string) bool {
	if p == "" || len(p) > 3 {
		return false
	}
	seen := map[rune]bool{}
	for _, c := range p {
		if !strings.ContainsRune("rwm", c) || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

// groupAdd checks group_add's entries: gids, or group names the runtime
// looks up in the image's /etc/group (as docker does, when the container
// is created).
func (t *translator) groupAdd(s *types.ServiceConfig) []string {
	var out []string
	for i, g := range s.GroupAdd {
		field := fmt.Sprintf("group_add[%d]", i)
		if n, err := strconv.ParseInt(g, 10, 64); err == nil {
			if n < 0 || n > 1<<32-2 {
				t.fail(s.Name, field, "%d is not a group id", n)
				continue
			}
		} else if g == "" || strings.ContainsAny(g, ":\n ") {
			t.fail(s.Name, field, "%q is not a group name or id", g)
			continue
		}
		out = append(out, g)
	}
	return out
}
