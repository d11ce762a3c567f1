package translate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostTree makes a directory tree with the symlinks a tenant could put in
// a sandbox, and returns its root (itself resolved: TMPDIR may be a link).
func hostTree(t *testing.T) string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"sandbox/data/sub", "outside"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "sandbox/file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"sandbox/etc":      "/etc",                      // absolute escape
		"sandbox/up":       "../outside",                // relative escape
		"sandbox/inside":   "data/sub",                  // stays inside
		"sandbox/dangling": "/etc/compod-policy-absent", // creating it would create the target
		"sandbox/chain":    "etc",                       // a link to a link
		"sandbox/loop":     "loop",
		"sandbox/ssl":      "/etc/ssl/certs",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestResolveHostPath(t *testing.T) {
	root := hostTree(t)
	sb := root + "/sandbox"
	for _, tc := range []struct {
		dir, path, want string
	}{
		{path: sb + "/data", want: sb + "/data"},
		{path: sb + "/data/", want: sb + "/data"},            // trailing slash
		{path: sb + "//data/./sub/", want: sb + "/data/sub"}, // doubled slash, "."
		{path: sb + "/data/../../outside", want: root + "/outside"},
		{path: sb + "/etc", want: "/etc"},
		{path: sb + "/etc/passwd", want: "/etc/passwd"},
		{path: sb + "/chain/ssl", want: "/etc/ssl"},
		{path: sb + "/up", want: root + "/outside"},
		{path: sb + "/inside/..", want: sb + "/data"},               // ".." after the link, as the kernel does
		{path: sb + "/ssl/..", want: "/etc/ssl"},                    // not sandbox/
		{path: sb + "/dangling", want: "/etc/compod-policy-absent"}, // the target
		{path: sb + "/absent/../etc", want: "/etc"},                 // an absent directory, then ".."
		{path: sb + "/absent/x", want: sb + "/absent/x"},
		{path: sb + "/file/x", want: sb + "/file/x"}, // below a regular file
		{dir: sb, path: "data", want: sb + "/data"},  // relative to the project
		{dir: sb, path: "./etc/", want: "/etc"},
		{dir: sb, path: "../sandbox/up", want: root + "/outside"},
		{dir: sb, path: "ssl/../..", want: "/etc"},
		{path: "/../../etc", want: "/etc"},
	} {
		got, err := ResolveHostPath(tc.dir, tc.path)
		if err != nil || got != tc.want {
			t.Errorf("ResolveHostPath(%q, %q) = %q, %v; want %q", tc.dir, tc.path, got, err, tc.want)
		}
	}
	if _, err := ResolveHostPath("", sb+"/loop/x"); err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") {
		t.Errorf("a symlink loop: err = %v", err)
	}
}

func TestUnderPrefix(t *testing.T) {
	for _, tc := range []struct {
		path, prefix string
		want         bool
	}{
		{"/data", "/data", true},
		{"/data/x", "/data", true},
		{"/data/x", "/data/", true},
		{"/database", "/data", false},
		{"/dat", "/data", false},
		{"/anything", "/", true},
		{"/", "/data", false},
	} {
		if got := underPrefix(tc.path, tc.prefix); got != tc.want {
			t.Errorf("underPrefix(%q, %q) = %v", tc.path, tc.prefix, got)
		}
	}
}
