package translate

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// support is what compod does with a compose field.
type support int

const (
	// supported fields are translated into the plan.
	supported support = iota
	// partial fields are translated, but some of their values are
	// rejected or only warned about (the check or the translation says).
	partial
	// warned fields are ignored with a warning: ignoring them keeps the
	// service working, only less like under docker.
	warned
	// rejected fields are errors: ignoring them would change what the
	// service does (security, data, devices) or cannot work in a pod.
	rejected
)

func (s support) String() string {
	return [...]string{"supported", "partial", "warned", "rejected"}[s]
}

// rule is compod's treatment of one compose field. why is the warning or
// error text for warned and rejected fields.
type rule struct {
	support support
	why     string
	// descend: the field is a struct whose fields have their own rules
	// ("deploy" → "deploy.replicas").
	descend bool
	// check refines partial fields whose treatment depends on the value;
	// it returns a warning or an error message (or neither).
	check func(s *types.ServiceConfig) (warn, reject string)
}

// Why ignoring a field is fine, shared by several fields.
const (
	whyCPUs     = "ignored: only cpus (or deploy.resources.limits.cpus) limits CPU"
	whySwarm    = "ignored: swarm-only setting"
	whyWindows  = "ignored: Windows-only setting"
	whyNotBuild = "build is not supported: build the image and set image:"
)

// serviceRules covers every field of compose-go's types.ServiceConfig, by
// its yaml path. A field that is set and has no rule is rejected, so a
// newer compose-go with new fields cannot make compod silently ignore
// them; TestServiceRulesCoverComposeGo lists the fields without a rule.
var serviceRules = map[string]rule{
	// Supported. Fields marked partial below are translated too, but some
	// of their values or options are rejected or warned about by the
	// translation code (see docs/compose-support.md).
	"image":             {support: supported},
	"command":           {support: supported},
	"entrypoint":        {support: supported},
	"environment":       {support: supported},
	"env_file":          {support: supported},
	"working_dir":       {support: supported},
	"user":              {support: supported},
	"labels":            {support: supported},
	"label_file":        {support: supported},
	"cap_add":           {support: supported},
	"cap_drop":          {support: supported},
	"privileged":        {support: supported},
	"read_only":         {support: supported},
	"tty":               {support: supported},
	"mem_limit":         {support: supported},
	"cpus":              {support: supported},
	"pids_limit":        {support: supported},
	"stop_signal":       {support: supported},
	"stop_grace_period": {support: supported},
	"depends_on":        {support: partial},
	"healthcheck":       {support: partial},
	"restart":           {support: supported},
	"hostname":          {support: supported},
	"container_name":    {support: supported}, // a name the pod's services resolve (pod.go)
	"extra_hosts":       {support: supported},
	"dns":               {support: supported},
	"dns_search":        {support: supported},
	"dns_opt":           {support: supported},
	"ports":             {support: partial},
	"volumes":           {support: partial},
	"tmpfs":             {support: partial},
	"pull_policy":       {support: partial},
	"profiles":          {support: supported},
	"extends":           {support: supported},
	"secrets":           {support: supported}, // secrets.go
	"configs":           {support: supported},
	// ulimits, shm_size, sysctls, security_opt: limits.go judges the values.
	"ulimits":      {support: partial},
	"shm_size":     {support: partial},
	"sysctls":      {support: partial},
	"security_opt": {support: partial},
	// volumesfrom.go, hooks.go
	"volumes_from": {support: supported},
	"post_start":   {support: supported},
	"pre_stop":     {support: supported},

	// The CPU and memory settings below the limits (cpumem.go), the
	// supplementary groups, and host devices by path (devices.go; CDI
	// names are rejected).
	"cpu_shares":      {support: supported},
	"cpuset":          {support: supported},
	"cpu_period":      {support: supported},
	"cpu_quota":       {support: supported},
	"mem_reservation": {support: supported},
	"memswap_limit":   {support: supported},
	"mem_swappiness":  {support: supported},
	"oom_score_adj":   {support: supported},
	"group_add":       {support: supported},
	"devices":         {support: partial},

	// Partial: the value decides.
	"build":        {support: partial, check: checkBuild},
	"dockerfile":   {support: partial, check: checkBuild},
	"network_mode": {support: partial, check: func(s *types.ServiceConfig) (string, string) { return checkNetworkMode(s.NetworkMode) }},
	"net":          {support: partial, check: func(s *types.ServiceConfig) (string, string) { return checkNetworkMode(s.Net) }},
	"networks":     {support: partial, check: checkNetworks},
	"scale": {support: partial, check: func(s *types.ServiceConfig) (string, string) {
		return "", checkReplicas(*s.Scale)
	}},
	// The driver (json-file, local, unset: the pod's log file; none) and
	// the options max-size and max-file are translated (logging.go);
	// other drivers are rejected, other options warned about.
	"logging":     {support: partial},
	"log_driver":  {support: partial},
	"log_opt":     {support: partial},
	"init":        {support: supported}, // compod-init as PID 1 (runtime/spec.go)
	"pid":         {support: partial},   // pidns.go
	"ipc":         {support: partial, check: func(s *types.ServiceConfig) (string, string) { return checkNamespace("ipc", s.Ipc) }},
	"uts":         {support: partial, check: func(s *types.ServiceConfig) (string, string) { return checkNamespace("uts", s.Uts) }},
	"cgroup":      {support: partial, check: func(s *types.ServiceConfig) (string, string) { return checkNamespace("cgroup", s.Cgroup) }},
	"userns_mode": {support: partial, check: func(s *types.ServiceConfig) (string, string) { return checkNamespace("userns_mode", s.UserNSMode) }},
	"runtime": {support: partial, check: func(s *types.ServiceConfig) (string, string) {
		switch s.Runtime {
		case "runc", "io.containerd.runc.v2":
			return "", ""
		}
		return "", fmt.Sprintf("runtime %q is not supported: compod runs every service with runc", s.Runtime)
	}},
	"deploy": {support: partial, descend: true},

	// Warned: ignored, the service still works.
	"annotations":        {support: warned, why: "ignored: containers get compod's own annotations"},
	"attach":             {support: warned, why: "ignored: compod up always shows every service's output"},
	"blkio_config":       {support: warned, why: "ignored: no block I/O limits"},
	"cgroup_parent":      {support: warned, why: "ignored: services run in the pod's cgroup (under the Mesos task's)"},
	"cpu_count":          {support: warned, why: whyWindows},
	"cpu_percent":        {support: warned, why: whyWindows},
	"cpu_rt_period":      {support: warned, why: whyCPUs},
	"cpu_rt_runtime":     {support: warned, why: whyCPUs},
	"credential_spec":    {support: warned, why: whyWindows},
	"develop":            {support: warned, why: "ignored: compose watch is a development feature of docker compose"},
	"domainname":         {support: warned, why: "ignored: hostnames are plain names, no domain name is set"},
	"expose":             {support: supported},
	"external_links":     {support: warned, why: "ignored: a pod reaches only its own services by name"},
	"isolation":          {support: warned, why: whyWindows},
	"links":              {support: warned, why: "ignored except as depends_on: services reach each other by service name over localhost; link aliases do not resolve"},
	"mac_address":        {support: supported},
	"oom_kill_disable":   {support: warned, why: "ignored: the kernel OOM killer stays enabled"},
	"platform":           {support: warned, why: "ignored: images are pulled for the host's platform"},
	"pull_refresh_after": {support: warned, why: "ignored: use pull_policy"},
	"stdin_open":         {support: warned, why: "ignored: services get no stdin"},
	"storage_opt":        {support: warned, why: "ignored: no storage driver options"},
	"umask":              {support: warned, why: "ignored: services keep the image's umask"},

	// Rejected: ignoring them would change what the service does.
	"device_cgroup_rules": {support: rejected, why: "device cgroup rules are not supported"},
	"gpus":                {support: supported},
	"models":              {support: rejected, why: "models are not supported"},
	"use_api_socket":      {support: rejected, why: "there is no Docker API socket: compod runs without Docker"},
	"volume_driver":       {support: rejected, why: "volume drivers are not supported: volumes are directories of the pod"},
	"provider":            {support: rejected, why: "provider services are not supported"},
	"pre_start":           {support: rejected, why: "pre_start hooks (init containers) are not supported: run the step as a service with restart: \"no\" and depend on it with condition: service_completed_successfully"},

	// deploy: only the limits matter to a pod on one host.
	"deploy.mode": {support: partial, check: func(s *types.ServiceConfig) (string, string) {
		if s.Deploy.Mode == "replicated" {
			return "", ""
		}
		return whySwarm, ""
	}},
	"deploy.replicas": {support: partial, check: func(s *types.ServiceConfig) (string, string) {
		return "", checkReplicas(*s.Deploy.Replicas)
	}},
	"deploy.labels":                                   {support: warned, why: "ignored: use labels"},
	"deploy.update_config":                            {support: warned, why: whySwarm},
	"deploy.rollback_config":                          {support: warned, why: whySwarm},
	"deploy.placement":                                {support: warned, why: "ignored: Mesos places the pod"},
	"deploy.endpoint_mode":                            {support: warned, why: whySwarm},
	"deploy.restart_policy":                           {support: partial},
	"deploy.resources":                                {support: partial, descend: true},
	"deploy.resources.reservations":                   {support: partial, descend: true},
	"deploy.resources.reservations.cpus":              {support: warned, why: "ignored: reserve resources in the Mesos task"},
	"deploy.resources.reservations.memory":            {support: warned, why: "ignored: reserve resources in the Mesos task"},
	"deploy.resources.reservations.pids":              {support: warned, why: "ignored: reserve resources in the Mesos task"},
	"deploy.resources.reservations.devices":           {support: supported},
	"deploy.resources.reservations.generic_resources": {support: rejected, why: "generic resources are not supported"},
	"deploy.resources.limits":                         {support: partial, descend: true},
	"deploy.resources.limits.cpus":                    {support: supported},
	"deploy.resources.limits.memory":                  {support: supported},
	"deploy.resources.limits.pids":                    {support: supported},
	"deploy.resources.limits.devices":                 {support: rejected, why: "device requests belong in deploy.resources.reservations.devices (GPUs), or by CDI name or path in devices:"},
	"deploy.resources.limits.generic_resources":       {support: rejected, why: "generic resources are not supported"},
}

// topLevelRules covers the fields of compose-go's types.Project. include,
// version and x-* are consumed by compose-go before the project exists.
var topLevelRules = map[string]rule{
	"name":     {support: supported},
	"services": {support: supported},
	"networks": {support: partial},
	"volumes":  {support: partial},
	"secrets":  {support: partial}, // secrets.go: external rejected, swarm settings warned
	"configs":  {support: partial},
	"models":   {support: rejected, why: "models are not supported"},
	"jobs":     {support: rejected, why: "jobs are not supported: run them as services with restart: \"no\""},
}

// setField is one non-zero field found by walkSet.
type setField struct {
	path string
	rule rule
	// known is false when there is no rule for the path.
	known bool
}

// walkSet lists the set (non-zero) fields of a compose-go struct by their
// yaml path, descending into inline structs and into fields whose rule
// says descend. Extensions (x-*) are skipped: they are extensions by
// definition, not instructions for compod.
func walkSet(v reflect.Value, prefix string, rules map[string]rule) []setField {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	var out []setField
	for _, f := range reflect.VisibleFields(v.Type()) {
		if !f.IsExported() || len(f.Index) > 1 {
			continue // promoted fields are reached through their inline parent
		}
		name, inline, ok := yamlName(f)
		if !ok {
			continue
		}
		fv := v.FieldByIndex(f.Index)
		if inline {
			out = append(out, walkSet(fv, prefix, rules)...)
			continue
		}
		if fv.IsZero() {
			continue
		}
		path := prefix + name
		r, known := rules[path]
		if known && r.descend {
			out = append(out, walkSet(fv, path+".", rules)...)
			continue
		}
		out = append(out, setField{path: path, rule: r, known: known})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// yamlName is a struct field's compose key. ok is false for fields that
// are not compose keys (yaml:"-", extensions, the service's own name).
func yamlName(f reflect.StructField) (name string, inline, ok bool) {
	tag, has := f.Tag.Lookup("yaml")
	if !has {
		return "", false, false
	}
	name, opts, _ := strings.Cut(tag, ",")
	switch {
	case name == "-" || strings.HasPrefix(name, "#"):
		return "", false, false
	case name == "" && strings.Contains(opts, "inline"):
		return "", true, true
	case name == "":
		return "", false, false
	}
	return name, false, true
}

// allRulePaths lists the yaml paths of a struct type (with descending
// rules), for the coverage test and the docs test.
func allRulePaths(t reflect.Type, prefix string, rules map[string]rule) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || len(f.Index) > 1 {
			continue
		}
		name, inline, ok := yamlName(f)
		if !ok {
			continue
		}
		if inline {
			out = append(out, allRulePaths(f.Type, prefix, rules)...)
			continue
		}
		path := prefix + name
		out = append(out, path)
		if r := rules[path]; r.descend {
			out = append(out, allRulePaths(f.Type, path+".", rules)...)
		}
	}
	return out
}

func checkBuild(s *types.ServiceConfig) (string, string) {
	if s.Image == "" {
		return "", whyNotBuild
	}
	return "ignored: compod does not build images; the image " + s.Image + " is used as is", ""
}

func checkNetworkMode(mode string) (string, string) {
	switch {
	case mode == "" || mode == "none" || mode == "host":
		return "", "" // translate's podNetworkMode; host is judged by the policy
	case strings.HasPrefix(mode, types.ServicePrefix):
		// That is what a pod is: every service shares one network
		// namespace. compose-go turned it into a depends_on.
		return "all services share the pod's network namespace already", ""
	}
	return "", fmt.Sprintf("network_mode %q is not supported: all services of a pod share the pod's network; use networks: with external CNI networks, network_mode none or network_mode host", mode)
}

// checkNetworks warns about the service network settings that have no
// CNI counterpart; the others become the pod's (podNetworks).
func checkNetworks(s *types.ServiceConfig) (string, string) {
	var ignored []string
	for _, k := range sortedKeys(s.Networks) {
		c := s.Networks[k]
		if c == nil {
			continue
		}
		if len(c.LinkLocalIPs) > 0 {
			ignored = append(ignored, "networks."+k+".link_local_ips")
		}
		if len(c.DriverOpts) > 0 {
			ignored = append(ignored, "networks."+k+".driver_opts")
		}
		if c.GatewayPriority != 0 {
			ignored = append(ignored, "networks."+k+".gw_priority")
		}
	}
	if len(ignored) == 0 {
		return "", ""
	}
	return strings.Join(ignored, ", ") + " ignored: CNI networks take their routes and options from the operator's conflist", ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func checkReplicas(n int) string {
	if n == 1 {
		return ""
	}
	return fmt.Sprintf("%d replicas are not supported: a pod runs exactly one container per service", n)
}

func checkNamespace(field, mode string) (string, string) {
	if mode == "host" {
		return "", fmt.Sprintf("%s: host is not supported: services of a pod never share the host's namespaces", field)
	}
	return "ignored: services of a pod share the pod's network, IPC and UTS namespaces", ""
}
