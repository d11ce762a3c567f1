package translate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	"go.yaml.in/yaml/v4"
)

// Policy is an operator's admission policy: what a pod may ask of the host.
// Every rule is optional: a rule that is not set (nil) does not restrict.
// A set list that is empty allows nothing. Check judges a plan against it.
//
// The YAML keys are the field tags; see docs/policy.md.
type Policy struct {
	// BindMounts says which host paths services may bind-mount.
	BindMounts BindMountRule `yaml:"bind_mounts,omitempty" json:"bind_mounts,omitempty"`
	// AllowPrivileged false refuses privileged: true.
	AllowPrivileged *bool `yaml:"allow_privileged,omitempty" json:"allow_privileged,omitempty"`
	// AllowedHostNamespaces are the host namespaces (network, pid, ipc,
	// uts, userns, cgroup) a service may join. network_mode host is the
	// network namespace and pid: host the pid one (policy_namespaces.go);
	// compod rejects ipc, uts, userns_mode and cgroup: host in every pod
	// today, so the other names are checked for their spelling only.
	AllowedHostNamespaces *[]string `yaml:"allowed_host_namespaces,omitempty" json:"allowed_host_namespaces,omitempty"`
	// AllowedCapAdd are the capabilities cap_add may add ("ALL" allows
	// any, and cap_add: [ALL]). Names as in capabilities(7), with or
	// without CAP_, any case.
	AllowedCapAdd *[]string `yaml:"allowed_cap_add,omitempty" json:"allowed_cap_add,omitempty"`
	// AllowedDevices, AllowedSysctls and AllowedSecurityOpt are the
	// devices, sysctls and security_opt values a service may use
	// (policy_devices.go, policy_limits.go).
	AllowedDevices     *[]string `yaml:"allowed_devices,omitempty" json:"allowed_devices,omitempty"`
	AllowedSysctls     *[]string `yaml:"allowed_sysctls,omitempty" json:"allowed_sysctls,omitempty"`
	AllowedSecurityOpt *[]string `yaml:"allowed_security_opt,omitempty" json:"allowed_security_opt,omitempty"`
	// MinOOMScoreAdj is the lowest oom_score_adj a service may set
	// (policy_devices.go).
	MinOOMScoreAdj *int `yaml:"min_oom_score_adj,omitempty" json:"min_oom_score_adj,omitempty"`
	// RunAsNonRoot true refuses services that may run as uid 0: user: must
	// be a numeric uid other than 0 (a name, or no user: at all, is known
	// to be non-root only at run time, from the image; see docs/policy.md).
	RunAsNonRoot *bool `yaml:"run_as_non_root,omitempty" json:"run_as_non_root,omitempty"`
	// ReadOnlyRootfs true requires read_only: true on every service.
	ReadOnlyRootfs *bool `yaml:"read_only_rootfs,omitempty" json:"read_only_rootfs,omitempty"`
	// Images restricts image references.
	Images ImageRule `yaml:"images,omitempty" json:"images,omitempty"`
	// MaxPerService and MaxPerPod bound the resource limits a pod asks
	// for; a service without a limit asks for unlimited.
	MaxPerService Limits `yaml:"max_per_service,omitempty" json:"max_per_service,omitempty"`
	MaxPerPod     Limits `yaml:"max_per_pod,omitempty" json:"max_per_pod,omitempty"`
	// RequiredLabels are label keys every service must carry.
	RequiredLabels *[]string `yaml:"required_labels,omitempty" json:"required_labels,omitempty"`

	// AlwaysAllowedBindRoots are host directories whose contents may be
	// bind-mounted whatever bind_mounts says (the executor's task
	// sandbox); a denied prefix inside one still denies. Set by the
	// program, never by the policy file.
	AlwaysAllowedBindRoots []string `yaml:"-" json:"-"`
}

// BindMountRule: a bind source is allowed when it is under an allowed
// prefix (or no allow list is set) and not under a denied prefix: deny
// wins. Prefixes are absolute paths and match whole path components
// (/data allows /data and /data/x, not /database).
type BindMountRule struct {
	AllowedPrefixes *[]string `yaml:"allowed_prefixes,omitempty" json:"allowed_prefixes,omitempty"`
	DeniedPrefixes  *[]string `yaml:"denied_prefixes,omitempty" json:"denied_prefixes,omitempty"`
}

// ImageRule restricts the images a pod may run.
type ImageRule struct {
	// AllowedPrefixes match the normalized reference
	// (docker.io/library/nginx for "nginx") by whole path components:
	// "registry.example.com" and "registry.example.com/team" both allow
	// "registry.example.com/team/app:1".
	AllowedPrefixes *[]string `yaml:"allowed_prefixes,omitempty" json:"allowed_prefixes,omitempty"`
	// RequireDigest true requires image@sha256:... references.
	RequireDigest *bool `yaml:"require_digest,omitempty" json:"require_digest,omitempty"`
}

// Limits are maximum resource limits.
type Limits struct {
	CPUs   *float64 `yaml:"cpus,omitempty" json:"cpus,omitempty"`
	Memory *Bytes   `yaml:"memory,omitempty" json:"memory,omitempty"`
	Pids   *int64   `yaml:"pids,omitempty" json:"pids,omitempty"`
}

// Bytes is an amount of memory: a number of bytes or a string such as
// "512m" or "2GiB" (docker's units).
type Bytes int64

// UnmarshalYAML reads a number of bytes or a size with a unit.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a size such as 512m or 2g", n.Line)
	}
	if v, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
		*b = Bytes(v)
		return nil
	}
	v, err := units.RAMInBytes(n.Value)
	if err != nil {
		return fmt.Errorf("%q: want a size such as 512m or 2g", n.Value)
	}
	*b = Bytes(v)
	return nil
}

// hostNamespaces are the namespace names allowed_host_namespaces knows.
var hostNamespaces = []string{"network", "pid", "ipc", "uts", "userns", "cgroup"}

// UnmarshalYAML decodes a policy strictly: unknown keys are errors (a
// misspelt rule must not silently allow what it meant to deny), and so
// are keys without a value ("allowed_cap_add:" means neither "none" nor
// "any"; write [] or remove the key).
func (p *Policy) UnmarshalYAML(n *yaml.Node) error {
	if err := rejectNulls(n, ""); err != nil {
		return err
	}
	// The YAML error names this type when a key is unknown.
	type policy Policy
	var v policy
	if err := n.Load(&v, yaml.WithKnownFields()); err != nil {
		return err
	}
	*p = Policy(v)
	return p.validate()
}

// rejectNulls reports the first mapping key whose value is empty.
func rejectNulls(n *yaml.Node, path string) error {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if path != "" {
			key = path + "." + key
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			return fmt.Errorf("line %d: %s has no value: write [] (or false) to allow nothing, or remove the key to leave it unrestricted", k.Line, key)
		}
		if err := rejectNulls(v, key); err != nil {
			return err
		}
	}
	return nil
}

// ParsePolicy reads a policy document (YAML or JSON). An empty document is
// the empty policy, which allows everything.
func ParsePolicy(data []byte) (Policy, error) {
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return Policy{}, err
	}
	return p, nil
}

// LoadPolicyFile reads a policy file; the error names the file.
func LoadPolicyFile(path string) (Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Policy{}, fmt.Errorf("reading policy file: %w", err)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return Policy{}, fmt.Errorf("policy file %s: %w", path, err)
	}
	return p, nil
}

// validate checks the spelling of the rules, so that a typo fails when
// the policy is loaded rather than denying (or allowing) every pod.
func (p *Policy) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	absPrefixes := func(key string, l *[]string) {
		for i, s := range deref(l) {
			if !filepath.IsAbs(s) {
				bad(fmt.Sprintf("%s[%d]", key, i), "%q is not an absolute path", s)
			}
		}
	}
	absPrefixes("bind_mounts.allowed_prefixes", p.BindMounts.AllowedPrefixes)
	absPrefixes("bind_mounts.denied_prefixes", p.BindMounts.DeniedPrefixes)
	for i, ns := range deref(p.AllowedHostNamespaces) {
		if !slices.Contains(hostNamespaces, ns) {
			bad(fmt.Sprintf("allowed_host_namespaces[%d]", i), "unknown namespace %q: want one of %s", ns, strings.Join(hostNamespaces, ", "))
		}
	}
	if p.AllowedCapAdd != nil {
		canon := make([]string, 0, len(*p.AllowedCapAdd))
		for i, c := range *p.AllowedCapAdd {
			cc, ok := CanonicalCapability(c)
			if !ok {
				bad(fmt.Sprintf("allowed_cap_add[%d]", i), "unknown capability %q: use a name from capabilities(7), with or without CAP_, or ALL", c)
				continue
			}
			canon = append(canon, cc)
		}
		p.AllowedCapAdd = &canon
	}
	for i, s := range deref(p.Images.AllowedPrefixes) {
		if s == "" || strings.Contains(s, "://") {
			bad(fmt.Sprintf("images.allowed_prefixes[%d]", i), "%q: want a registry or repository prefix such as registry.example.com/team", s)
		}
	}
	for _, l := range []struct {
		key string
		l   Limits
	}{{"max_per_service", p.MaxPerService}, {"max_per_pod", p.MaxPerPod}} {
		if l.l.CPUs != nil && !(*l.l.CPUs > 0) {
			bad(l.key+".cpus", "must be a positive number")
		}
		if l.l.Memory != nil && *l.l.Memory <= 0 {
			bad(l.key+".memory", "must be positive")
		}
		if l.l.Pids != nil && *l.l.Pids <= 0 {
			bad(l.key+".pids", "must be positive")
		}
	}
	for i, k := range deref(p.RequiredLabels) {
		if strings.TrimSpace(k) == "" {
			bad(fmt.Sprintf("required_labels[%d]", i), "empty label key")
		}
	}
	p.validateLimitRules(bad)
	p.validateDeviceRules(bad)
	return errors.Join(errs...)
}

// Overlay returns p with every rule that o sets replaced by o's: how an
// operator's policy loosens (or tightens) the executor's default. The
// lists are replaced, not merged, so that an operator can also narrow them.
func (p Policy) Overlay(o Policy) Policy {
	setList := func(dst **[]string, src *[]string) {
		if src != nil {
			*dst = src
		}
	}
	setBool := func(dst **bool, src *bool) {
		if src != nil {
			*dst = src
		}
	}
	setList(&p.BindMounts.AllowedPrefixes, o.BindMounts.AllowedPrefixes)
	setList(&p.BindMounts.DeniedPrefixes, o.BindMounts.DeniedPrefixes)
	setBool(&p.AllowPrivileged, o.AllowPrivileged)
	setList(&p.AllowedHostNamespaces, o.AllowedHostNamespaces)
	setList(&p.AllowedCapAdd, o.AllowedCapAdd)
	setList(&p.AllowedDevices, o.AllowedDevices)
	setList(&p.AllowedSysctls, o.AllowedSysctls)
	setList(&p.AllowedSecurityOpt, o.AllowedSecurityOpt)
	if o.MinOOMScoreAdj != nil {
		p.MinOOMScoreAdj = o.MinOOMScoreAdj
	}
	setBool(&p.RunAsNonRoot, o.RunAsNonRoot)
	setBool(&p.ReadOnlyRootfs, o.ReadOnlyRootfs)
	setList(&p.Images.AllowedPrefixes, o.Images.AllowedPrefixes)
	setBool(&p.Images.RequireDigest, o.Images.RequireDigest)
	p.MaxPerService = p.MaxPerService.overlay(o.MaxPerService)
	p.MaxPerPod = p.MaxPerPod.overlay(o.MaxPerPod)
	setList(&p.RequiredLabels, o.RequiredLabels)
	p.AlwaysAllowedBindRoots = append(append([]string(nil), p.AlwaysAllowedBindRoots...), o.AlwaysAllowedBindRoots...)
	return p
}

func (l Limits) overlay(o Limits) Limits {
	if o.CPUs != nil {
		l.CPUs = o.CPUs
	}
	if o.Memory != nil {
		l.Memory = o.Memory
	}
	if o.Pids != nil {
		l.Pids = o.Pids
	}
	return l
}

// DockerDefaultCapabilities are the capabilities docker (and containerd's
// default spec, which compod starts from) gives a container: cap_add of
// one of them changes nothing.
var DockerDefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// DefaultExecutorPolicy is the policy of the Mesos executor when the
// operator configures none (and the base an operator's policy: loosens):
// no privileged services, no host namespaces, no capabilities beyond
// docker's default set, no devices, no negative oom_score_adj, and bind
// mounts only from inside the task sandbox. A tenant's pod must not be
// root on a shared agent.
func DefaultExecutorPolicy(sandbox string) Policy {
	no := false
	minOOM := 0
	caps := append([]string(nil), DockerDefaultCapabilities...)
	return Policy{
		BindMounts:             BindMountRule{AllowedPrefixes: &[]string{}},
		AllowPrivileged:        &no,
		AllowedHostNamespaces:  &[]string{},
		AllowedCapAdd:          &caps,
		AllowedDevices:         &[]string{},
		AllowedSysctls:         &[]string{},
		AllowedSecurityOpt:     &[]string{},
		MinOOMScoreAdj:         &minOOM,
		AlwaysAllowedBindRoots: []string{sandbox},
	}
}

func deref(l *[]string) []string {
	if l == nil {
		return nil
	}
	return *l
}
