package translate

import (
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
	"go.yaml.in/yaml/v4"
)

// compose-go reports some problems only through logrus, on stderr, without
// a file or a field ("The "TAG" variable is not set…"), and some of them
// twice. Load captures them and turns each into one of the plan's
// warnings, located like compod's own, so a user sees every warning once
// and knows where to look.

// composeLogMu serialises captures: logrus is one global logger.
var composeLogMu sync.Mutex

// captureComposeLog runs load with compose-go's log captured and returns
// the warnings it logged, in order, without repeats.
func captureComposeLog(load func()) []string {
	composeLogMu.Lock()
	defer composeLogMu.Unlock()
	std := logrus.StandardLogger()
	out, hooks, level := std.Out, std.ReplaceHooks(logrus.LevelHooks{}), std.GetLevel()
	rec := &logRecorder{}
	std.SetOutput(io.Discard)
	std.SetLevel(logrus.WarnLevel)
	std.AddHook(rec)
	defer func() {
		std.SetOutput(out)
		std.ReplaceHooks(hooks)
		std.SetLevel(level)
	}()
	load()
	return rec.msgs
}

type logRecorder struct{ msgs []string }

func (r *logRecorder) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (r *logRecorder) Fire(e *logrus.Entry) error {
	for _, m := range r.msgs {
		if m == e.Message {
			return nil
		}
	}
	r.msgs = append(r.msgs, e.Message)
	return nil
}

var unsetVarRe = regexp.MustCompile(`^The "([^"]+)" variable is not set\. Defaulting to a blank string\.$`)

// composeWarnings turns compose-go's log messages into located warnings.
func (x *fileIndex) composeWarnings(msgs []string) []string {
	var out []string
	for _, m := range msgs {
		switch {
		case strings.Contains(m, "the attribute `version` is obsolete"):
			// compod warns about it itself (obsoleteVersion), per file.
		case unsetVarRe.MatchString(m):
			u := x.unsetVariable(unsetVarRe.FindStringSubmatch(m)[1])
			out = append(out, location(u.file, u.service, u.field)+"variable "+u.name+" is not set: it is replaced by an empty string (set it, or give a default: ${"+u.name+":-value})")
		default:
			out = append(out, location(x.allFiles(), "", "")+m)
		}
	}
	// compose-go interpolates maps in random order: sorted, the same
	// files give the same warnings.
	sort.Strings(out)
	return out
}

// unsetVar is a variable compose-go replaced by an empty string, and the
// first place that uses it.
type unsetVar struct{ name, file, service, field string }

// unsetVariables lists the unset variables compose-go logged.
func (x *fileIndex) unsetVariables(msgs []string) []unsetVar {
	var out []unsetVar
	for _, m := range msgs {
		if sm := unsetVarRe.FindStringSubmatch(m); sm != nil {
			out = append(out, x.unsetVariable(sm[1]))
		}
	}
	return out
}

func (x *fileIndex) unsetVariable(name string) unsetVar {
	file, service, field := x.locateVariable(name)
	return unsetVar{name: name, file: file, service: service, field: field}
}

// locateVariable finds where ${name} (or $name) is used: the first
// service field that mentions it, last file first, else the files.
func (x *fileIndex) locateVariable(name string) (file, service, field string) {
	varRe := regexp.MustCompile(`\$\{` + regexp.QuoteMeta(name) + `([:?}-]|$)|\$` + regexp.QuoteMeta(name) + `(\W|$)`)
	if i, service, field, _, ok := x.findInServices(func(node *yaml.Node, key string) (string, string, bool) {
		return findScalarFunc(node, key, varRe.MatchString)
	}); ok {
		return x.display(x.files[i]), service, field
	}
	return x.allFiles(), "", ""
}

// allFiles names every compose file, for a problem of the whole project.
func (x *fileIndex) allFiles() string {
	names := make([]string, len(x.given))
	for i, f := range x.given {
		names[i] = x.display(f)
	}
	return strings.Join(names, ", ")
}
