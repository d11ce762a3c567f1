package translate

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestValidatePodName(t *testing.T) {
	for _, name := range []string{"web", "my-pod", "my_pod", "9lives", "a1-b2_c3", strings.Repeat("p", 40)} {
		if err := ValidatePodName(name); err != nil {
			t.Errorf("ValidatePodName(%q) = %v, want ok", name, err)
		}
	}
	for name, why := range map[string]string{
		"":                      "is empty",
		"../../x":               "use lowercase letters",
		"..":                    "use lowercase letters",
		"a/b":                   "use lowercase letters",
		"-x":                    "starting with a letter or digit",
		"_x":                    "starting with a letter or digit",
		"Web":                   "use lowercase letters",
		"a.b":                   "use lowercase letters",
		"pod-":                  "must end with a letter or digit",
		"a--b":                  "not have two '-' or '_' in a row",
		"a_-b":                  "not have two '-' or '_' in a row",
		strings.Repeat("p", 41): "longer than 40 characters",
	} {
		err := ValidatePodName(name)
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("ValidatePodName(%q) = %v, want an error saying %q", name, err, why)
		}
	}
}

// -p is checked before anything is read: a pod name is a directory name
// in the state dir.
func TestLoadRejectsBadProjectName(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": "services:\n  web:\n    image: web:1\n"})
	_, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, ProjectName: "../../x", Environ: map[string]string{}})
	if err == nil || !strings.Contains(err.Error(), `pod (project) name "../../x" is invalid`) {
		t.Fatalf("Load with -p ../../x: %v, want the name rejected", err)
	}
}

// Service names docker compose accepts load, and keep their spelling.
func TestServiceNamesComposeAccepts(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": "services:\n  Web.v2:\n    image: x\n  db_1:\n    image: x\n  9-cache:\n    image: x\n"})
	plan, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range plan.Services {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	if want := []string{"9-cache", "Web.v2", "db_1"}; !slices.Equal(names, want) {
		t.Errorf("services %v, want %v", names, want)
	}
}

// cap_add and cap_drop take names as docker does (any case, with or without
// CAP_, ALL); the plan carries the OCI spelling, each name once.
func TestCapabilityNamesAreCanonical(t *testing.T) {
	dir := writeProject(t, map[string]string{"compose.yaml": `
services:
  web:
    image: x
    cap_add: [sys_admin, CAP_NET_ADMIN, Cap_Chown, SYS_ADMIN]
    cap_drop: [all]
  api:
    image: x
    cap_add: [All]
    cap_drop: [net_raw]
`})
	plan, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	web, _ := plan.Service("web")
	if want := []string{"CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_CHOWN"}; !slices.Equal(web.CapAdd, want) {
		t.Errorf("web cap_add = %v, want %v", web.CapAdd, want)
	}
	if want := []string{AllCapabilities}; !slices.Equal(web.CapDrop, want) {
		t.Errorf("web cap_drop = %v, want %v", web.CapDrop, want)
	}
	api, _ := plan.Service("api")
	if !slices.Equal(api.CapAdd, []string{AllCapabilities}) || !slices.Equal(api.CapDrop, []string{"CAP_NET_RAW"}) {
		t.Errorf("api cap_add = %v, cap_drop = %v, want [ALL] and [CAP_NET_RAW]", api.CapAdd, api.CapDrop)
	}
}
