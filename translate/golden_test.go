package translate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// caseOptions is testdata/<case>/options.json: the LoadOptions of a case,
// with paths relative to the case directory. Without it a case loads
// compose.yaml with an empty environment.
type caseOptions struct {
	Files       []string          `json:"files"`
	ProjectName string            `json:"projectName"`
	EnvFiles    []string          `json:"envFiles"`
	Profiles    []string          `json:"profiles"`
	Environ     map[string]string `json:"environ"`
}

// TestGolden loads every testdata/<case> and compares the plan, as JSON
// with the case directory written $DIR, to testdata/<case>/plan.golden.json.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/compose.yaml")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, f := range dirs {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			abs, err := filepath.Abs(dir)
			if err != nil {
				t.Fatal(err)
			}
			opts := LoadOptions{Files: []string{filepath.Join(abs, "compose.yaml")}, Environ: map[string]string{}}
			if data, err := os.ReadFile(filepath.Join(dir, "options.json")); err == nil {
				var co caseOptions
				if err := json.Unmarshal(data, &co); err != nil {
					t.Fatalf("options.json: %v", err)
				}
				if len(co.Files) > 0 {
					opts.Files = nil
					for _, f := range co.Files {
						opts.Files = append(opts.Files, filepath.Join(abs, f))
					}
				}
				for _, f := range co.EnvFiles {
					opts.EnvFiles = append(opts.EnvFiles, filepath.Join(abs, f))
				}
				opts.ProjectName, opts.Profiles = co.ProjectName, co.Profiles
				if co.Environ != nil {
					opts.Environ = co.Environ
				}
			}
			plan, err := Load(context.Background(), opts)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(plan); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join(dir, "plan.golden.json"), strings.ReplaceAll(buf.String(), abs, "$DIR"), "TestGolden")
		})
	}
}

// checkGolden compares got with the golden file, or rewrites the file
// with -update; test names the test that -update should be run for.
func checkGolden(t *testing.T, golden, got, test string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s is missing: run go test ./translate -run %s -update", golden, test)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n%s", golden, lineDiff(string(want), got))
	}
}

// lineDiff shows the first differing lines, enough to see what changed.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(w), len(g)) && shown < 20; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want: %s\n  got:  %s\n", i+1, wl, gl)
			shown++
		}
	}
	return b.String()
}
