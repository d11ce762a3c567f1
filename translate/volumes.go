package translate

import (
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	units "github.com/docker/go-units"
)

// mounts translates volumes: and tmpfs:. Named volumes are directories of
// the pod shared by the services that mount them; an anonymous volume gets
// a pod-unique name so the runtime can treat it as a named one.
func (t *translator) mounts(s *types.ServiceConfig) []MountSpec {
	var out []MountSpec
	targets := map[string]string{} // target → the field that mounts it
	addTarget := func(field, target string) {
		if !path.IsAbs(target) {
			t.fail(s.Name, field, "target %q is not an absolute path", target)
		}
		if prev, ok := targets[target]; ok {
			t.fail(s.Name, field, "target %s is already mounted by %s", target, prev)
		}
		targets[target] = field
	}
	anon := 0
	for i, v := range s.Volumes {
		field := fmt.Sprintf("volumes[%d]", i)
		addTarget(field, v.Target)
		m := MountSpec{Target: v.Target, ReadOnly: v.ReadOnly}
		switch v.Type {
		case types.VolumeTypeBind:
			m.Type, m.Source = "bind", v.Source
			m.CreateHostPath = v.Bind != nil && bool(v.Bind.CreateHostPath)
			if !filepath.IsAbs(v.Source) {
				t.fail(s.Name, field, "bind source %q is not an absolute path", v.Source)
			}
			if b := v.Bind; b != nil && (b.Propagation != "" || b.SELinux != "" || b.Recursive != "") {
				t.warn(s.Name, field, "bind options (propagation, selinux, recursive) are ignored: binds are recursive and private")
			}
		case types.VolumeTypeVolume:
			m.Type, m.Source = "volume", v.Source
			if v.Source == "" {
				anon++
				m.Source = fmt.Sprintf("anon-%s-%d", s.Name, anon)
				if _, taken := t.p.Volumes[m.Source]; taken {
					t.fail(s.Name, field, "the anonymous volume's name %s is taken by a named volume: rename that volume", m.Source)
				}
			} else if _, ok := t.p.Volumes[v.Source]; !ok {
				t.fail(s.Name, field, "volume %q is not declared in the top-level volumes", v.Source)
			}
			if vv := v.Volume; vv != nil {
				if vv.Subpath != "" {
					t.fail(s.Name, field, "volume subpath is not supported: mount the whole volume")
				}
				if len(vv.Labels) > 0 {
					t.warn(s.Name, field, "volume labels are ignored")
				}
				m.NoCopy = vv.NoCopy
			}

		case types.VolumeTypeTmpfs:
			m.Type = "tmpfs"
			if tm := v.Tmpfs; tm != nil {
				m.TmpfsSize = int64(tm.Size)
				if tm.Size < 0 {
					t.fail(s.Name, field, "tmpfs size must not be negative")
				}
				if tm.Mode > 0o7777 {
					t.fail(s.Name, field, "tmpfs mode %o is not a file mode: use octal permission bits such as 0755", tm.Mode)
				}
				m.TmpfsMode = tm.Mode
			}
		default:
			t.fail(s.Name, field, "volume type %q is not supported: use bind, volume or tmpfs", v.Type)
			continue
		}
		t.warnMountIdioms(s.Name, field, v)
		if v.Consistency != "" {
			t.warn(s.Name, field, "consistency is ignored (it matters only on macOS)")
		}
		out = append(out, m)
	}
	for i, spec := range s.Tmpfs {
		field := fmt.Sprintf("tmpfs[%d]", i)
		target, opts, _ := strings.Cut(spec, ":")
		target = path.Clean(target)
		addTarget(field, target)
		m := MountSpec{Type: "tmpfs", Target: target}
		var ignored []string
		for _, o := range strings.Split(opts, ",") {
			k, val, _ := strings.Cut(o, "=")
			switch k {
			case "":
			case "ro":
				m.ReadOnly = true
			case "rw":
				m.ReadOnly = false
			case "size":
				n, err := units.RAMInBytes(val)
				if err != nil || n < 0 {
					t.fail(s.Name, field, "invalid tmpfs size %q", val)
				}
				m.TmpfsSize = n
			case "mode":
				mode, err := strconv.ParseUint(val, 8, 32)
				if err != nil || mode > 0o7777 {
					t.fail(s.Name, field, "tmpfs mode %q is not a file mode: use octal permission bits such as 0755", val)
				}
				m.TmpfsMode = uint32(mode)
			case "uid", "gid":
				if _, err := strconv.ParseUint(val, 10, 32); err != nil {
					t.fail(s.Name, field, "tmpfs %s %q is not a numeric id", k, val)
					continue
				}
				m.TmpfsOptions = append(m.TmpfsOptions, k+"="+val)
			case "noexec", "exec", "nosuid", "suid", "nodev", "dev":
				m.TmpfsOptions = append(m.TmpfsOptions, k)
			default:
				ignored = append(ignored, o)
			}
		}
		if len(ignored) > 0 {
			t.warn(s.Name, field, "tmpfs options %s are ignored: compod passes size, mode, uid, gid, ro/rw, (no)exec, (no)suid and (no)dev", strings.Join(ignored, ","))
		}
		out = append(out, m)
	}
	return out
}

// podVolumes lists the volumes the services use: named ones by their
// host name (see VolumeSpec), anonymous ones pod-local.
func (t *translator) podVolumes(services []ServiceSpec) []VolumeSpec {
	seen := map[string]bool{}
	var out []VolumeSpec
	for _, s := range services {
		for _, m := range s.Mounts {
			if m.Type != "volume" || seen[m.Source] {
				continue
			}
			seen[m.Source] = true
			v := VolumeSpec{Name: m.Source}
			if top, ok := t.p.Volumes[m.Source]; ok {
				v.HostName, v.External = top.Name, bool(top.External)
				if v.HostName == "" {
					v.HostName = m.Source
				}
			}
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// volumeNameRe is docker's rule for volume names; a host name of a volume
// is also a directory name under the volumes directory.
var volumeNameRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// topLevelVolumes accepts local volumes only: a volume is a directory on
// the host (under compod's volumes directory), so drivers and driver
// options (bind-backed volumes included) have nothing to act on. External
// volumes are such directories made beforehand (`compod volume create`).
func (t *translator) topLevelVolumes() {
	names := make([]string, 0, len(t.p.Volumes))
	for name := range t.p.Volumes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		v := t.p.Volumes[name]
		field := "volumes." + name
		if name == "." || name == ".." {
			t.fail("", field, "invalid volume name")
		}
		if v.Name != "" && !volumeNameRe.MatchString(v.Name) {
			f := field + ".name"
			if v.External && v.Name == name {
				f = field
			}
			t.fail("", f, "invalid volume name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", v.Name)
		}
		if v.Driver != "" && v.Driver != "local" {
			t.fail("", field+".driver", "volume driver %q is not supported: a volume is a directory of the pod", v.Driver)
		}
		if len(v.DriverOpts) > 0 {
			t.fail("", field+".driver_opts", "driver options are not supported: a volume is a directory of the pod; use a bind mount instead")
		}
		if len(v.Labels) > 0 {
			t.warn("", field+".labels", "ignored: volumes have no labels")
		}
	}
}
