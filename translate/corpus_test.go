package translate

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestCorpus loads every testdata/corpus/<case> (compose files written in
// the shape of well-known projects' published ones, see its README) as
// `compod up` would, and compares the outcome a user sees (accepted or
// refused, every warning and error) and the Mesos executor's default
// admission policy's verdict with testdata/corpus/<case>/outcome.golden.
func TestCorpus(t *testing.T) {
	dirs, err := filepath.Glob("testdata/corpus/*/compose.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no corpus cases: %v", err)
	}
	for _, f := range dirs {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			abs, err := filepath.Abs(dir)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join(dir, "outcome.golden"), strings.ReplaceAll(corpusOutcome(abs), abs, "$DIR"), "TestCorpus")
		})
	}
}

// corpusOutcome is what loading the case's compose.yaml (with its .env,
// and nothing from the test's environment) tells a user.
func corpusOutcome(dir string) string {
	var b strings.Builder
	line := func(s string) { b.WriteString(s + "\n") }
	line("# compod up, without an admission policy")
	plan, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: map[string]string{}})
	if err != nil {
		line("refused")
		for _, p := range Problems(err) {
			line("error: " + p.Error())
		}
		for _, w := range LoadWarnings(err) {
			line("warning: " + w)
		}
		return b.String()
	}
	line("accepted: pod " + plan.Name + ", services " + serviceNames(plan))
	for _, w := range plan.Warnings {
		line("warning: " + w)
	}
	line("")
	line("# the Mesos executor's default admission policy (the case directory as the task sandbox)")
	vs := Check(plan, DefaultExecutorPolicy(dir))
	if len(vs) == 0 {
		line("admitted")
	}
	for _, v := range vs {
		line("denied: " + v.Error())
	}
	return b.String()
}

func serviceNames(plan *PodPlan) string {
	names := make([]string, len(plan.Services))
	for i, s := range plan.Services {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}
