package translate

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// translator turns one loaded compose project into a plan, collecting
// errors and warnings as it goes so that the user sees all of them.
type translator struct {
	p        *types.Project
	idx      *fileIndex
	errs     []error
	warnings []string
}

func (t *translator) fail(service, field, format string, args ...any) {
	t.errs = append(t.errs, &Error{File: t.idx.fileFor(service, field), Service: service, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (t *translator) warn(service, field, format string, args ...any) {
	t.warnings = append(t.warnings, location(t.idx.fileFor(service, field), service, field)+fmt.Sprintf(format, args...))
}

// translateProject turns a loaded project into a plan.
func translateProject(p *types.Project, idx *fileIndex) (*PodPlan, error) {
	t := &translator{p: p, idx: idx}
	t.topLevel()
	t.obsoleteVersion()

	names := p.ServiceNames()
	if len(names) == 0 {
		t.fail("", "services", "no services (with the enabled profiles %v)", p.Profiles)
	}
	for _, name := range names {
		if problem := serviceNameProblem(p.Name, name); problem != "" {
			t.fail(name, "", "%s", problem)
		}
	}
	t.resolveFiles(names)
	specs := map[string]*ServiceSpec{}
	for _, name := range names {
		svc := p.Services[name]
		specs[name] = t.service(&svc)
	}
	t.volumesFrom(specs, names)
	t.pidNamespaces(specs, names, t.podExtension())
	plan := &PodPlan{
		Name:       p.Name,
		Files:      idx.given,
		WorkingDir: p.WorkingDir,
	}
	t.podWide(plan, names)
	t.podNetworks(plan, names)
	if plan.NetworkMode == "host" {
		for _, s := range specs {
			s.Ports = nil // warned about in podNetworkMode
		}
	}
	order := t.order(specs, names)
	for _, name := range order {
		plan.Services = append(plan.Services, *specs[name])
		plan.Ports = append(plan.Ports, specs[name].Ports...)
	}
	t.serviceHostnames(plan)
	t.checkPortConflicts(plan.Services)
	t.checkSysctlConflicts(plan.Services)
	plan.Volumes = t.podVolumes(plan.Services)

	if len(t.errs) > 0 {
		return nil, t.refusal()
	}
	plan.Warnings = t.allWarnings()
	return plan, nil
}

// resolveFiles merges env_file into environment and label_file into
// labels, service by service, with compose-go's rules (interpolation from
// the project environment, environment wins over env_file).
func (t *translator) resolveFiles(names []string) {
	for _, name := range names {
		one := &types.Project{Services: types.Services{name: t.p.Services[name]}, Environment: t.p.Environment}
		resolved, err := one.WithServicesEnvironmentResolved(false)
		if err != nil {
			t.fail(name, "env_file", "%s", t.shortenPaths(err.Error()))
			continue
		}
		resolved, err = resolved.WithServicesLabelsResolved(false)
		if err != nil {
			t.fail(name, "label_file", "%s", t.shortenPaths(err.Error()))
			continue
		}
		t.p.Services[name] = resolved.Services[name]
	}
}

// shortenPaths rewrites absolute paths under the project directory in a
// message relative to it.
func (t *translator) shortenPaths(msg string) string {
	return strings.ReplaceAll(msg, t.idx.workingDir+string(filepath.Separator), "")
}

// topLevel applies topLevelRules to the project's top-level keys.
func (t *translator) topLevel() {
	for _, f := range walkSet(reflect.ValueOf(t.p), "", topLevelRules) {
		switch {
		case !f.known:
			t.fail("", f.path, "not supported by compod")
		case f.rule.support == rejected:
			t.fail("", f.path, "%s", f.rule.why)
		case f.rule.support == warned:
			t.warn("", f.path, "%s", f.rule.why)
		}
	}
	t.topLevelNetworks()
	t.topLevelVolumes()
	t.topLevelFileObjects()
}

// obsoleteVersion warns about version:, which compose-go drops silently
// (it only logs).
func (t *translator) obsoleteVersion() {
	for i, top := range t.idx.topLevel {
		if top["version"] {
			t.warnings = append(t.warnings, location(t.idx.display(t.idx.files[i]), "", "version")+"ignored: the version attribute is obsolete")
		}
	}
}
