package translate

import (
	"fmt"
	"maps"
	"math"
	"path"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// defaultStopGrace is docker's stop timeout.
const defaultStopGrace = 10 * time.Second

// service translates one compose service. Problems are recorded on t; the
// returned spec is complete as far as the service is valid.
func (t *translator) service(s *types.ServiceConfig) *ServiceSpec {
	name := s.Name
	t.checkFields(s)

	spec := &ServiceSpec{
		Name:       name,
		Image:      s.Image,
		Entrypoint: nilOrCopy(s.Entrypoint),
		Command:    nilOrCopy(s.Command),
		Env:        envList(s.Environment),
		User:       s.User,
		Privileged: s.Privileged,
		ReadOnly:   s.ReadOnly,
		Tty:        s.Tty,
		Init:       s.Init != nil && *s.Init,
	}
	if s.Image == "" && s.Build == nil && s.Dockerfile == "" {
		t.fail(name, "image", "image is required")
	}
	if s.WorkingDir != "" {
		if !path.IsAbs(s.WorkingDir) {
			t.fail(name, "working_dir", "%q is not an absolute path", s.WorkingDir)
		}
		spec.WorkingDir = s.WorkingDir
	}
	if len(s.Labels) > 0 {
		spec.Labels = maps.Clone(map[string]string(s.Labels))
	}
	nets := make([]string, 0, len(s.Networks))
	for n := range s.Networks {
		nets = append(nets, n)
	}
	sort.Strings(nets)
	for _, n := range nets {
		if _, ok := t.p.Networks[n]; !ok {
			t.fail(name, "networks."+n, "network %q is not declared in the top-level networks", n)
		}
	}
	spec.CapAdd = t.capabilities(name, "cap_add", s.CapAdd)
	spec.CapDrop = t.capabilities(name, "cap_drop", s.CapDrop)
	spec.PullPolicy = t.pullPolicy(name, s.PullPolicy)

	// Unset stays empty: the runtime then uses the image's STOPSIGNAL.
	if s.StopSignal != "" {
		sig, err := normalizeSignal(s.StopSignal)
		if err != nil {
			t.fail(name, "stop_signal", "%v", err)
		}
		spec.StopSignal = sig
	}
	spec.StopGracePeriod = defaultStopGrace
	if s.StopGracePeriod != nil {
		spec.StopGracePeriod = time.Duration(*s.StopGracePeriod)
		if spec.StopGracePeriod < 0 {
			t.fail(name, "stop_grace_period", "must not be negative")
		}
	}

	spec.Restart = t.restart(s)
	t.resources(s, spec)
	t.limits(s, spec)
	t.cpuMemory(s, spec)
	spec.GroupAdd = t.groupAdd(s)
	spec.Devices = t.devices(s)
	spec.CDIDevices = t.cdiDevices(s)
	spec.Healthcheck = t.healthcheck(name, s.HealthCheck)
	spec.PostStart = t.hooks(s, "post_start", s.PostStart)
	spec.PreStop = t.hooks(s, "pre_stop", s.PreStop)
	spec.Mounts = t.mounts(s)
	spec.FileMounts = t.fileMounts(s, spec.Mounts)
	spec.Ports = t.ports(s)
	spec.DependsOn = t.dependencies(s)
	spec.Logging = t.logging(s)
	t.idx.fieldFiles(spec)
	return spec
}

// checkFields applies serviceRules to every set field of the service.
func (t *translator) checkFields(s *types.ServiceConfig) {
	// Name is the service's key, set by compose-go, not a field.
	named := *s
	named.Name = ""
	for _, f := range walkSet(reflect.ValueOf(&named), "", serviceRules) {
		switch {
		case !f.known:
			t.fail(s.Name, f.path, "not supported by compod")
		case f.rule.support == rejected:
			t.fail(s.Name, f.path, "%s", f.rule.why)
		case f.rule.support == warned:
			t.warn(s.Name, f.path, "%s", f.rule.why)
		case f.rule.check != nil:
			warn, reject := f.rule.check(s)
			if reject != "" {
				t.fail(s.Name, f.path, "%s", reject)
			} else if warn != "" {
				t.warn(s.Name, f.path, "%s", warn)
			}
		}
	}
}

func nilOrCopy(c types.ShellCommand) []string {
	if c == nil {
		return nil
	}
	return append([]string{}, c...)
}

// envList renders the resolved environment (environment + env_file) as
// sorted KEY=VALUE. A variable without a value that the interpolation
// environment does not define stays unset, as in docker.
func envList(env types.MappingWithEquals) []string {
	var out []string
	for k, v := range env {
		if v != nil {
			out = append(out, k+"="+*v)
		}
	}
	sort.Strings(out)
	return out
}

// pullPolicy keeps the policies the runtime implements and maps the rest
// onto them.
func (t *translator) pullPolicy(service, p string) string {
	switch {
	case p == "" || p == types.PullPolicyAlways || p == types.PullPolicyNever || p == types.PullPolicyMissing:
		return p
	case p == types.PullPolicyIfNotPresent:
		return types.PullPolicyMissing
	case p == types.PullPolicyBuild:
		t.fail(service, "pull_policy", "%s", whyNotBuild)
		return p
	case p == types.PullPolicyRefresh || p == "daily" || p == "weekly" || strings.HasPrefix(p, "every_"):
		t.warn(service, "pull_policy", "%q is treated as %q: compod does not track image age", p, types.PullPolicyMissing)
		return types.PullPolicyMissing
	}
	t.fail(service, "pull_policy", "unknown pull policy %q: use always, never or missing", p)
	return p
}

// restart validates the restart policy; deploy.restart_policy is the
// swarm spelling of the same thing and is used when restart is unset.
func (t *translator) restart(s *types.ServiceConfig) string {
	var rp *types.RestartPolicy
	if s.Deploy != nil {
		rp = s.Deploy.RestartPolicy
	}
	if rp != nil && (rp.Delay != nil || rp.Window != nil) {
		t.warn(s.Name, "deploy.restart_policy", "delay and window are ignored: compod restarts with docker's backoff")
	}
	if s.Restart == "" && rp != nil {
		switch rp.Condition {
		case "none":
			return types.RestartPolicyNo
		case "", "any":
			return types.RestartPolicyAlways
		case "on-failure":
			if rp.MaxAttempts != nil {
				return fmt.Sprintf("%s:%d", types.RestartPolicyOnFailure, *rp.MaxAttempts)
			}
			return types.RestartPolicyOnFailure
		}
		t.fail(s.Name, "deploy.restart_policy.condition", "unknown condition %q: use none, on-failure or any", rp.Condition)
		return ""
	}
	if s.Restart != "" && rp != nil {
		t.warn(s.Name, "deploy.restart_policy", "ignored: restart is set")
	}
	name, max, hasMax := strings.Cut(s.Restart, ":")
	switch name {
	case "":
		return ""
	case types.RestartPolicyNo, types.RestartPolicyAlways, types.RestartPolicyUnlessStopped:
		if !hasMax {
			return s.Restart
		}
	case types.RestartPolicyOnFailure:
		if !hasMax {
			return s.Restart
		}
		if n, err := strconv.Atoi(max); err == nil && n >= 0 {
			return s.Restart
		}
	}
	t.fail(s.Name, "restart", "invalid restart policy %q: use no, always, on-failure[:N] or unless-stopped", s.Restart)
	return s.Restart
}

// resources takes the limits from the service or from deploy.resources.
// compose-go's consistency check (which we replace) forbids distinct
// values in both places; so do we.
func (t *translator) resources(s *types.ServiceConfig, spec *ServiceSpec) {
	var lim *types.Resource
	if s.Deploy != nil {
		lim = s.Deploy.Resources.Limits
	}
	spec.MemLimit = int64(s.MemLimit)
	spec.CPUs = cpus(float32(s.CPUS))
	spec.PidsLimit = s.PidsLimit
	if lim != nil {
		if lim.MemoryBytes != 0 {
			if spec.MemLimit != 0 && spec.MemLimit != int64(lim.MemoryBytes) {
				t.fail(s.Name, "deploy.resources.limits.memory", "%d bytes conflicts with mem_limit (%d bytes): set one of them", int64(lim.MemoryBytes), spec.MemLimit)
			}
			spec.MemLimit = int64(lim.MemoryBytes)
		}
		if lim.NanoCPUs != 0 {
			c := cpus(float32(lim.NanoCPUs))
			switch {
			case math.IsNaN(c) || math.IsInf(c, 0):
				// compose-go's schema check catches these in cpus but
				// not in deploy (a string there): a NaN would reach the
				// cgroup as no limit and make the plan unsavable as JSON.
				t.fail(s.Name, "deploy.resources.limits.cpus", "%v is not a number of CPUs", c)
			case spec.CPUs != 0 && spec.CPUs != c:
				t.fail(s.Name, "deploy.resources.limits.cpus", "%g conflicts with cpus (%g): set one of them", c, spec.CPUs)
			default:
				spec.CPUs = c
			}
		}
		if lim.Pids != 0 {
			if spec.PidsLimit != 0 && spec.PidsLimit != lim.Pids {
				t.fail(s.Name, "deploy.resources.limits.pids", "%d conflicts with pids_limit (%d): set one of them", lim.Pids, spec.PidsLimit)
			}
			spec.PidsLimit = lim.Pids
		}
	}
	if spec.MemLimit < 0 {
		t.fail(s.Name, "mem_limit", "must not be negative")
	}
	switch {
	case math.IsNaN(spec.CPUs) || math.IsInf(spec.CPUs, 0):
		t.fail(s.Name, "cpus", "%v is not a number of CPUs", spec.CPUs)
		spec.CPUs = 0
	case spec.CPUs < 0:
		t.fail(s.Name, "cpus", "must not be negative")
	}
	switch {
	case spec.PidsLimit == -1:
		spec.PidsLimit = 0 // docker's spelling of "unlimited"
	case spec.PidsLimit < 0:
		t.fail(s.Name, "pids_limit", "must be positive, or -1 for unlimited")
	}
}

// cpus undoes compose-go's float32: cpus: 0.1 is 0.1, not 0.10000000149.
func cpus(f float32) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	return v
}
