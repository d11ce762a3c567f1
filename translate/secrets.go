package translate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
)

// Secrets and configs as docker compose gives them outside swarm: a file
// in the container, read-only, made from a file of the project, a variable
// of the interpolation environment or (configs) inline content.

const (
	// secretsDir is where a secret without an absolute target goes.
	secretsDir = "/run/secrets"
	// defaultFileMountMode is docker's mode for secrets and configs.
	defaultFileMountMode = 0o444
)

// FileMount is one secret or config of a service: a file the runtime
// writes into the pod's state directory at launch, with this owner and
// mode, and bind-mounts read-only at Target. It is a copy, so a change of
// the source does not change a running pod.
type FileMount struct {
	// Kind is "secret" or "config".
	Kind string `json:"kind"`
	// Name is the secret's or config's key in the top-level section.
	Name string `json:"name"`
	// File is the absolute path of the source file, read at launch. When
	// empty, Content is the file's content: an environment variable's
	// value or a config's inline content, captured when the plan was
	// made (the plan is saved in the pod's record, readable by root
	// only).
	File    string `json:"file,omitempty"`
	Content string `json:"content,omitempty"`
	// Target is the absolute path in the container.
	Target string `json:"target"`
	UID    uint32 `json:"uid"`
	GID    uint32 `json:"gid"`
	// Mode is the file's permission bits.
	Mode uint32 `json:"mode"`
}

// topLevelFileObjects checks the top-level secrets and configs: compod
// has no secret store, so an external one cannot be found; the swarm
// settings have nothing to act on.
func (t *translator) topLevelFileObjects() {
	check := func(kind, section string, obj types.FileObjectConfig, key string) {
		field := section + "." + key
		switch {
		case key == "." || key == "..":
			// The name is a file name in the pod's directory.
			t.fail("", field, "invalid %s name", kind)
		case bool(obj.External):
			t.fail("", field+".external", "external %ss are not supported: there is no swarm or secret store to take them from; give the %s a file:, environment:%s source", kind, kind, map[bool]string{true: " or content:", false: ""}[kind == "config"])
		case obj.File == "" && obj.Environment == "" && obj.Content == "":
			t.fail("", field, "%s %q must declare file: or environment:%s", kind, key, map[bool]string{true: " or content:", false: ""}[kind == "config"])
		case obj.File != "":
			if _, err := os.Stat(obj.File); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					t.fail("", field+".file", "%s %q: file %s does not exist", kind, key, t.shortenPaths(obj.File))
				} else {
					t.fail("", field+".file", "%s %q: %s", kind, key, t.shortenPaths(err.Error()))
				}
			}
		case obj.Environment != "":
			if _, ok := t.p.Environment[obj.Environment]; !ok {
				t.fail("", field+".environment", "%s %q: environment variable %s is not set", kind, key, obj.Environment)
			}
		}
		if obj.Driver != "" || len(obj.DriverOpts) > 0 {
			t.warn("", field+".driver", "ignored: swarm-only setting")
		}
		if obj.TemplateDriver != "" {
			t.warn("", field+".template_driver", "ignored: swarm-only setting; the content is used as is")
		}
		if len(obj.Labels) > 0 {
			t.warn("", field+".labels", "ignored: %ss have no labels", kind)
		}
	}
	for _, key := range sortedKeys(t.p.Secrets) {
		check("secret", "secrets", types.FileObjectConfig(t.p.Secrets[key]), key)
	}
	for _, key := range sortedKeys(t.p.Configs) {
		check("config", "configs", types.FileObjectConfig(t.p.Configs[key]), key)
	}
}

// fileMounts translates a service's secrets: and configs:. mounts are the
// service's other mounts, whose targets a secret must not cover.
func (t *translator) fileMounts(s *types.ServiceConfig, mounts []MountSpec) []FileMount {
	targets := map[string]string{}
	for _, m := range mounts {
		targets[m.Target] = "volumes"
	}
	var out []FileMount
	add := func(kind, field string, ref types.FileReferenceConfig, obj types.FileObjectConfig, declared bool) {
		if !declared {
			t.fail(s.Name, field, "%s %q is not declared in the top-level %ss", kind, ref.Source, kind)
			return
		}
		fm := FileMount{Kind: kind, Name: ref.Source, Mode: defaultFileMountMode}
		switch {
		case obj.File != "":
			fm.File = obj.File
		case obj.Environment != "":
			fm.Content = t.p.Environment[obj.Environment]
		default:
			fm.Content = obj.Content
		}
		fm.Target = fileMountTarget(kind, ref.Source, ref.Target)
		var err error
		if fm.UID, err = idOf(ref.UID); err != nil {
			t.fail(s.Name, field+".uid", "%v", err)
		}
		if fm.GID, err = idOf(ref.GID); err != nil {
			t.fail(s.Name, field+".gid", "%v", err)
		}
		if ref.Mode != nil {
			if *ref.Mode < 0 || *ref.Mode > 0o7777 {
				t.fail(s.Name, field+".mode", "mode %#o is not a file mode", int64(*ref.Mode))
			}
			fm.Mode = uint32(*ref.Mode) & 0o7777
		}
		if prev, ok := targets[fm.Target]; ok {
			t.fail(s.Name, field, "target %s is already mounted by %s", fm.Target, prev)
		}
		targets[fm.Target] = field
		out = append(out, fm)
	}
	for i, ref := range s.Secrets {
		obj, ok := t.p.Secrets[ref.Source]
		add("secret", fmt.Sprintf("secrets[%d]", i), types.FileReferenceConfig(ref), types.FileObjectConfig(obj), ok)
	}
	for i, ref := range s.Configs {
		obj, ok := t.p.Configs[ref.Source]
		add("config", fmt.Sprintf("configs[%d]", i), types.FileReferenceConfig(ref), types.FileObjectConfig(obj), ok)
	}
	return out
}

// fileMountTarget is docker compose's rule: a secret goes under
// /run/secrets unless its target is absolute; a config goes to /<name>
// by default, and a relative target is under /.
func fileMountTarget(kind, name, target string) string {
	if target == "" {
		target = name
	}
	if path.IsAbs(target) {
		return path.Clean(target)
	}
	if kind == "secret" {
		return path.Join(secretsDir, target)
	}
	return path.Join("/", target)
}

// idOf parses a numeric uid or gid; empty is root, as docker's default.
func idOf(s string) (uint32, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a numeric id", s)
	}
	return uint32(n), nil
}
