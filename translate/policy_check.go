package translate

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	units "github.com/docker/go-units"
)

// Violation is one thing a pod asks for that the policy denies. It names
// where (file, service, field, as translate's errors do) and the policy
// rule that denied it.
type Violation struct {
	File    string `json:"file,omitempty"`
	Service string `json:"service,omitempty"`
	Field   string `json:"field,omitempty"`
	// Rule is the policy key that denied it, e.g.
	// "bind_mounts.denied_prefixes".
	Rule string `json:"rule"`
	Msg  string `json:"message"`
}

func (v Violation) Error() string {
	return location(v.File, v.Service, v.Field) + v.Msg + " (policy rule " + v.Rule + ")"
}

// PolicyError is a pod refused by the admission policy: every violation.
type PolicyError struct {
	Pod        string
	Violations []Violation
}

func (e *PolicyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pod %s is refused by the admission policy (%d violations):", e.Pod, len(e.Violations))
	for _, v := range e.Violations {
		b.WriteString("\n  ")
		b.WriteString(v.Error())
	}
	return b.String()
}

// Admit is Check as an error: nil when the plan is admitted, else a
// *PolicyError listing every violation. The plan's bind sources are
// rewritten to the paths that were judged (see Check).
func Admit(plan *PodPlan, p Policy) error {
	if vs := Check(plan, p); len(vs) > 0 {
		return &PolicyError{Pod: plan.Name, Violations: vs}
	}
	return nil
}

// AdmitWithPolicyFile is Admit with the policy of a file (`compod up
// --policy`); an empty path means no policy: every pod is admitted as it
// is, as docker would run it.
func AdmitWithPolicyFile(plan *PodPlan, path string) error {
	if path == "" {
		return nil
	}
	p, err := LoadPolicyFile(path)
	if err != nil {
		return err
	}
	return Admit(plan, p)
}

// IsPolicyError says whether err is (or wraps) a refusal by the policy.
func IsPolicyError(err error) bool {
	var pe *PolicyError
	return errors.As(err, &pe)
}

// Check judges a plan against a policy and lists every violation, not
// only the first. Bind sources are judged after resolving symlinks and
// ".." (ResolveHostPath), and the plan is changed to mount the resolved
// paths, so that what was judged is what is mounted: a symlink in the
// sandbox that points at /etc is judged, and mounted, as /etc. Check reads
// the file system (compose files, to name the file of a field; lstat and
// readlink of bind sources) and changes nothing on it.
func Check(plan *PodPlan, p Policy) []Violation {
	c := &checker{plan: plan, p: p}
	if len(plan.Files) > 0 {
		c.idx = newFileIndex(plan.WorkingDir, plan.Files)
	}
	c.resolvePrefixes()
	for i := range plan.Services {
		s := &plan.Services[i]
		c.binds(s)
		c.fileMountSources(s)
		c.privileged(s)
		c.capAdd(s)
		c.user(s)
		c.readOnly(s)
		c.image(s)
		c.serviceLimits(s)
		c.labels(s)
		c.sysctls(s)
		c.securityOpt(s)
		c.devices(s)
		c.oomScoreAdj(s)
		c.hooks(s)
		c.hostPID(s)
	}
	c.podLimits()
	c.hostNamespaces()
	return c.out
}

type checker struct {
	plan *PodPlan
	p    Policy
	idx  *fileIndex
	out  []Violation
	// roots, allowed and denied are the policy's bind paths, resolved as
	// bind sources are (an allowed /data that is a symlink to /mnt/data
	// allows /mnt/data).
	roots, allowed, denied []string
}

func (c *checker) deny(service, field, rule, format string, args ...any) {
	c.out = append(c.out, Violation{File: c.file(service, field), Service: service, Field: field, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

// file is the compose file that sets the field (translate's rule: the
// last file that sets it), or every file for the pod as a whole.
func (c *checker) file(service, field string) string {
	if c.idx == nil {
		return ""
	}
	if service == "" && field == "" {
		names := make([]string, len(c.idx.given))
		for i, f := range c.idx.given {
			names[i] = c.idx.display(f)
		}
		return strings.Join(names, ", ")
	}
	return c.idx.fileFor(service, field)
}

func resolveAll(l []string) []string {
	out := make([]string, 0, len(l))
	for _, s := range l {
		r, err := ResolveHostPath("/", s)
		if err != nil {
			r = s
		}
		out = append(out, r)
	}
	return out
}

func (c *checker) resolvePrefixes() {
	c.roots = resolveAll(c.p.AlwaysAllowedBindRoots)
	c.allowed = resolveAll(deref(c.p.BindMounts.AllowedPrefixes))
	c.denied = resolveAll(deref(c.p.BindMounts.DeniedPrefixes))
}

// binds judges, and rewrites to their resolved paths, the bind sources.
func (c *checker) binds(s *ServiceSpec) {
	for i := range s.Mounts {
		m := &s.Mounts[i]
		if m.Type == "bind" {
			c.hostPath(s.Name, fmt.Sprintf("volumes[%d]", i), "bind source", &m.Source)
		}
	}
}

// fileMountSources judges the files of secrets and configs as bind
// sources: compod reads them as root and shows them to the service.
func (c *checker) fileMountSources(s *ServiceSpec) {
	n := map[string]int{} // the field's index among its kind's
	for i := range s.FileMounts {
		fm := &s.FileMounts[i]
		if fm.File != "" {
			c.hostPath(s.Name, fmt.Sprintf("%ss[%d]", fm.Kind, n[fm.Kind]), fm.Kind+" file", &fm.File)
		}
		n[fm.Kind]++
	}
}

// hostPath judges a host path a service gets to read, under the
// bind_mounts rules, and rewrites it to its resolved path.
func (c *checker) hostPath(service, field, kind string, source *string) {
	resolved, err := ResolveHostPath(c.plan.WorkingDir, *source)
	if err != nil {
		c.deny(service, field, "bind_mounts", "%s %s cannot be judged: %v", kind, *source, err)
		return
	}
	what := kind + " " + resolved
	if resolved != *source {
		what += " (" + *source + " resolved)"
	}
	*source = resolved
	if d, ok := c.deniedPrefix(resolved); ok {
		c.deny(service, field, "bind_mounts.denied_prefixes", "%s is under the denied prefix %s", what, d)
		return
	}
	if c.inRoot(resolved) || c.p.BindMounts.AllowedPrefixes == nil || slices.ContainsFunc(c.allowed, func(a string) bool { return underPrefix(resolved, a) }) {
		return
	}
	where := "no bind mounts are allowed"
	if len(c.allowed) > 0 {
		where = "allowed: " + strings.Join(c.allowed, ", ")
	}
	if len(c.roots) > 0 {
		where += "; the task sandbox " + strings.Join(c.roots, ", ") + " is always allowed"
	}
	c.deny(service, field, "bind_mounts.allowed_prefixes", "%s is not under an allowed prefix (%s)", what, where)
}

// deniedPrefix finds the denied prefix that covers path. A denied prefix
// that contains a root path is under (the sandbox lies below a denied
// /var/lib/mesos) does not deny it: the sandbox is always allowed; one
// inside the sandbox does.
func (c *checker) deniedPrefix(path string) (string, bool) {
	for _, d := range c.denied {
		if !underPrefix(path, d) {
			continue
		}
		if slices.ContainsFunc(c.roots, func(r string) bool { return underPrefix(path, r) && underPrefix(r, d) }) {
			continue
		}
		return d, true
	}
	return "", false
}

func (c *checker) inRoot(path string) bool {
	return slices.ContainsFunc(c.roots, func(r string) bool { return underPrefix(path, r) })
}

func (c *checker) privileged(s *ServiceSpec) {
	if s.Privileged && c.p.AllowPrivileged != nil && !*c.p.AllowPrivileged {
		c.deny(s.Name, "privileged", "allow_privileged", "privileged services are not allowed")
	}
}

func (c *checker) capAdd(s *ServiceSpec) {
	if c.p.AllowedCapAdd == nil {
		return
	}
	allowed := map[string]bool{}
	for _, a := range *c.p.AllowedCapAdd {
		if cc, ok := CanonicalCapability(a); ok {
			allowed[cc] = true
		}
	}
	if allowed[AllCapabilities] {
		return
	}
	for _, cap := range s.CapAdd {
		if !allowed[cap] {
			c.deny(s.Name, "cap_add", "allowed_cap_add", "adding capability %s is not allowed", cap)
		}
	}
}

// user judges user: when run_as_non_root is set. Only a numeric uid can be
// judged before run time: a name is looked up in the image's /etc/passwd
// when the container is created, and without user: the image's USER
// applies. Like Kubernetes' runAsNonRoot, what cannot be verified is
// refused.
func (c *checker) user(s *ServiceSpec) {
	if c.p.RunAsNonRoot == nil || !*c.p.RunAsNonRoot {
		return
	}
	if s.User == "" {
		c.deny(s.Name, "user", "run_as_non_root", "no user is set, so the image's USER applies, which may be root and is known only at run time: set user: to a numeric uid other than 0")
		return
	}
	u, _, _ := strings.Cut(s.User, ":")
	if u == "root" {
		c.deny(s.Name, "user", "run_as_non_root", "user %q runs as root (uid 0)", s.User)
		return
	}
	uid, err := strconv.ParseUint(u, 10, 32)
	switch {
	case err != nil:
		c.deny(s.Name, "user", "run_as_non_root", "user %q is a name, whose uid is known only from the image's /etc/passwd at run time: use a numeric uid other than 0", s.User)
	case uid == 0:
		c.deny(s.Name, "user", "run_as_non_root", "user %q runs as root (uid 0)", s.User)
	}
}

func (c *checker) readOnly(s *ServiceSpec) {
	if c.p.ReadOnlyRootfs != nil && *c.p.ReadOnlyRootfs && !s.ReadOnly {
		c.deny(s.Name, "read_only", "read_only_rootfs", "the root filesystem must be read-only: set read_only: true (and mount a tmpfs or volume where the service writes)")
	}
}

func (c *checker) image(s *ServiceSpec) {
	prefixes, digest := c.p.Images.AllowedPrefixes, c.p.Images.RequireDigest != nil && *c.p.Images.RequireDigest
	if prefixes == nil && !digest {
		return
	}
	named, err := reference.ParseNormalizedNamed(s.Image)
	if err != nil {
		c.deny(s.Name, "image", "images", "image %q cannot be judged: %v", s.Image, err)
		return
	}
	name := named.Name()
	if prefixes != nil && !slices.ContainsFunc(*prefixes, func(p string) bool { return imageUnder(name, p) }) {
		allowed := "no images are allowed"
		if len(*prefixes) > 0 {
			allowed = "allowed: " + strings.Join(*prefixes, ", ")
		}
		c.deny(s.Name, "image", "images.allowed_prefixes", "image %s (%s) is not from an allowed registry or repository (%s)", s.Image, name, allowed)
	}
	if _, pinned := named.(reference.Canonical); digest && !pinned {
		c.deny(s.Name, "image", "images.require_digest", "image %s is not pinned by digest: write it as %s@sha256:<digest>", s.Image, name)
	}
}

// imageUnder matches a normalized repository name against a prefix by
// whole path components.
func imageUnder(name, prefix string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	return name == prefix || strings.HasPrefix(name, prefix+"/")
}

// limit is one resource bound, read the same way for a service and a pod.
type limit struct {
	rule, field, what string
	max               func(Limits) (float64, bool)
	get               func(*ServiceSpec) float64
	format            func(float64) string
	// fieldOf names the field that sets a service's value, when it is
	// not always field.
	fieldOf func(*ServiceSpec) string
}

func (k limit) fieldFor(s *ServiceSpec) string {
	if k.fieldOf != nil {
		return k.fieldOf(s)
	}
	return k.field
}

var limitKinds = []limit{
	{rule: "cpus", field: "cpus", what: "CPU",
		max: func(l Limits) (float64, bool) { return deref0(l.CPUs), l.CPUs != nil },
		// cpu_quota over cpu_period is a CPU limit too.
		get: func(s *ServiceSpec) float64 { return s.EffectiveCPUs() },
		fieldOf: func(s *ServiceSpec) string {
			if s.CPUs == 0 && s.CPUQuota > 0 {
				return "cpu_quota"
			}
			return "cpus"
		},
		format: func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) + " CPUs" }},
	{rule: "memory", field: "mem_limit", what: "memory",
		max: func(l Limits) (float64, bool) {
			if l.Memory == nil {
				return 0, false
			}
			return float64(*l.Memory), true
		},
		get:    func(s *ServiceSpec) float64 { return float64(s.MemLimit) },
		format: func(v float64) string { return units.BytesSize(v) }},
	{rule: "pids", field: "pids_limit", what: "process",
		max: func(l Limits) (float64, bool) {
			if l.Pids == nil {
				return 0, false
			}
			return float64(*l.Pids), true
		},
		get:    func(s *ServiceSpec) float64 { return float64(s.PidsLimit) },
		format: func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + " pids" }},
}

func deref0(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}

func (c *checker) serviceLimits(s *ServiceSpec) {
	for _, k := range limitKinds {
		max, ok := k.max(c.p.MaxPerService)
		if !ok {
			continue
		}
		switch v := k.get(s); {
		case v == 0:
			c.deny(s.Name, k.field, "max_per_service."+k.rule, "no %s limit: set %s to at most %s", k.what, k.field, k.format(max))
		case v > max:
			c.deny(s.Name, k.fieldFor(s), "max_per_service."+k.rule, "%s exceeds the maximum of %s per service", k.format(v), k.format(max))
		}
	}
}

// podLimits bounds the sum of the services' limits: a service without a
// limit makes the pod's unlimited.
func (c *checker) podLimits() {
	for _, k := range limitKinds {
		max, ok := k.max(c.p.MaxPerPod)
		if !ok {
			continue
		}
		var sum float64
		var unlimited []string
		for i := range c.plan.Services {
			v := k.get(&c.plan.Services[i])
			if v == 0 {
				unlimited = append(unlimited, c.plan.Services[i].Name)
			}
			sum += v
		}
		switch {
		case len(unlimited) > 0:
			c.deny("", "", "max_per_pod."+k.rule, "the pod's %s is unlimited: services %s set no %s; the pod may have at most %s in all", k.what, strings.Join(unlimited, ", "), k.field, k.format(max))
		case sum > max:
			c.deny("", "", "max_per_pod."+k.rule, "the services' %s limits add up to %s, more than the maximum of %s per pod", k.what, k.format(sum), k.format(max))
		}
	}
}

func (c *checker) labels(s *ServiceSpec) {
	for _, k := range deref(c.p.RequiredLabels) {
		if _, ok := s.Labels[k]; !ok {
			c.deny(s.Name, "labels", "required_labels", "the label %q is required", k)
		}
	}
}
