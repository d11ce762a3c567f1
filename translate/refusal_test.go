package translate

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// Every problem of a file is reported in one run, errors and warnings,
// each once and in the order of the services: 35 services with a bad
// stop_signal give 35 errors, none hidden behind a count.
func TestAllProblemsAtOnce(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: \"3.8\"\nservices:\n")
	const n = 35
	for i := range n {
		fmt.Fprintf(&b, "  s%02d:\n    image: img\n    stop_signal: SIGNOPE%d\n    domainname: example.com\n", i, i)
	}
	dir := writeProject(t, map[string]string{"compose.yaml": b.String()})
	_, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: map[string]string{}})
	if err == nil {
		t.Fatal("Load succeeded")
	}
	errs := allErrors(err)
	if len(errs) != n {
		t.Fatalf("%d errors, want %d:\n%v", len(errs), n, err)
	}
	for i, e := range errs {
		if want := fmt.Sprintf("s%02d", i); e.Service != want || e.Field != "stop_signal" {
			t.Errorf("error %d is about %s %s, want %s stop_signal (in order)", i, e.Service, e.Field, want)
		}
	}
	warnings := LoadWarnings(err)
	count := map[string]int{}
	for _, w := range warnings {
		count[w]++
	}
	versions := 0
	for w, c := range count {
		if c > 1 {
			t.Errorf("warning %q appears %d times", w, c)
		}
		if strings.Contains(w, `field "version"`) {
			versions++
		}
	}
	if versions != 1 || len(warnings) != n+1 {
		t.Errorf("%d warnings (%d about version), want %d domainname warnings and one about version:\n%s", len(warnings), versions, n, strings.Join(warnings, "\n"))
	}
	// The error's text carries them all, for callers that print only it.
	text := err.Error()
	if got := strings.Count(text, "\n") + 1; got != 2*n+1 {
		t.Errorf("the error has %d lines, want %d", got, 2*n+1)
	}
}

// The version warning appears once, although compose-go logs it too.
func TestVersionWarnedOnce(t *testing.T) {
	plan := load(t, map[string]string{"compose.yaml": "version: \"3\"\nservices:\n  web:\n    image: web\n"}, nil)
	if len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "the version attribute is obsolete") {
		t.Errorf("warnings %q, want the version warning once", plan.Warnings)
	}
}

// A problem found twice (the same text) is reported once.
func TestProblemsDeduplicated(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": "services:\n  a:\n    image: a\n    pid: service:b\n    volumes_from: [b]\n  b:\n    image: b\n    pid: service:a\n    volumes_from: [a]\n"})
	_, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: map[string]string{}})
	if err == nil {
		t.Fatal("Load succeeded")
	}
	seen := map[string]bool{}
	for _, p := range Problems(err) {
		if seen[p.Error()] {
			t.Errorf("reported twice: %s", p)
		}
		seen[p.Error()] = true
	}
	for _, want := range []string{"PID namespace cycle: a → b → a", "volumes_from cycle: a → b → a"} {
		if strings.Count(err.Error(), want) != 1 {
			t.Errorf("want %q once in:\n%v", want, err)
		}
	}
}
