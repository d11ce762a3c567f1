package plugin

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"testing"
)

// TestDocProtocol keeps docs/plugins.md honest: its request example is a
// Request and its response examples are Responses, decoded as strictly as
// compod decodes a plugin's answer.
func TestDocProtocol(t *testing.T) {
	doc, err := os.ReadFile("../docs/plugins.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```json (plugin-request|plugin-response)\n(.*?)```").FindAllSubmatch(doc, -1)
	kinds := map[string]int{}
	for _, b := range blocks {
		kind := string(b[1])
		kinds[kind]++
		dec := json.NewDecoder(bytes.NewReader(b[2]))
		dec.DisallowUnknownFields()
		var v any = &Request{}
		if kind == "plugin-response" {
			v = &Response{}
		}
		if err := dec.Decode(v); err != nil {
			t.Errorf("docs/plugins.md %s example does not decode: %v\n%s", kind, err, b[2])
		}
		if r, ok := v.(*Request); ok && (r.Hook != HookPreLaunch || r.TaskID == "" || r.Plan == nil || len(r.Plan.Services) != 1) {
			t.Errorf("request example decoded as %+v", r)
		}
	}
	if kinds["plugin-request"] != 1 || kinds["plugin-response"] != 2 {
		t.Errorf("found examples %v in docs/plugins.md", kinds)
	}
}
