package translate

import (
	"bufio"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// TestServiceRulesCoverComposeGo fails when compose-go grows a field that
// has no rule (add one to serviceRules and to docs/compose-support.md) or
// when a rule names a field compose-go no longer has.
func TestServiceRulesCoverComposeGo(t *testing.T) {
	checkCoverage(t, reflect.TypeFor[types.ServiceConfig](), serviceRules, "name")
}

func TestTopLevelRulesCoverComposeGo(t *testing.T) {
	checkCoverage(t, reflect.TypeFor[types.Project](), topLevelRules)
}

func checkCoverage(t *testing.T, typ reflect.Type, rules map[string]rule, skip ...string) {
	t.Helper()
	paths := allRulePaths(typ, "", rules)
	for _, p := range paths {
		if slices.Contains(skip, p) {
			continue
		}
		if _, ok := rules[p]; !ok {
			t.Errorf("compose field %q has no rule", p)
		}
	}
	for p := range rules {
		if !slices.Contains(paths, p) {
			t.Errorf("rule %q names no compose-go field", p)
		}
	}
}

// docRows reads the tables of docs/compose-support.md: the first column
// is a `field`, the second its support level, per "## " section.
func docRows(t *testing.T) map[string]map[string]string {
	t.Helper()
	f, err := os.Open("../docs/compose-support.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[string]map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section = h
			rows[section] = map[string]string{}
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 || section == "" {
			continue
		}
		key := strings.TrimSpace(cells[1])
		if !strings.HasPrefix(key, "`") || !strings.HasSuffix(key, "`") {
			continue
		}
		rows[section][strings.Trim(key, "`")] = strings.ToLower(strings.TrimSpace(cells[2]))
	}
	return rows
}

// TestDocMatchesRules keeps docs/compose-support.md in sync with the rules:
// every field has a row with the same support level, and no row names a
// field without a rule.
func TestDocMatchesRules(t *testing.T) {
	rows := docRows(t)
	for _, sec := range []struct {
		heading string
		rules   map[string]rule
		extra   []string // rows for keys compose-go consumes itself
	}{
		{"Service fields", serviceRules, nil},
		{"Top-level keys", topLevelRules, []string{"include", "version", "x-*"}},
	} {
		doc, ok := rows[sec.heading]
		if !ok {
			t.Fatalf("docs/compose-support.md has no %q section", sec.heading)
		}
		keys := make([]string, 0, len(sec.rules))
		for k := range sec.rules {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			got, ok := doc[k]
			switch {
			case !ok:
				t.Errorf("%s: `%s` (%s) is missing from docs/compose-support.md", sec.heading, k, sec.rules[k].support)
			case got != sec.rules[k].support.String():
				t.Errorf("%s: `%s` is %q in docs/compose-support.md but %q in the rules", sec.heading, k, got, sec.rules[k].support)
			}
		}
		for k := range doc {
			if _, ok := sec.rules[k]; !ok && !slices.Contains(sec.extra, k) {
				t.Errorf("%s: docs/compose-support.md documents `%s`, which has no rule", sec.heading, k)
			}
		}
	}
}
