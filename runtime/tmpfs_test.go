package runtime

import (
	"reflect"
	"testing"

	"github.com/compod/compod/translate"
)

// The compose options replace compod's defaults rather than adding
// contradicting flags, so the mount is what the user wrote.
func TestTmpfsOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    translate.MountSpec
		want []string
	}{
		{"defaults", translate.MountSpec{}, []string{"nosuid", "nodev", "mode=1777"}},
		{"size, mode, ro", translate.MountSpec{TmpfsSize: 1 << 20, TmpfsMode: 0o750, ReadOnly: true},
			[]string{"nosuid", "nodev", "mode=0750", "size=1048576", "ro"}},
		{"noexec, owner", translate.MountSpec{TmpfsOptions: []string{"uid=1000", "gid=1000", "noexec", "nosuid"}},
			[]string{"nosuid", "nodev", "uid=1000", "gid=1000", "noexec", "mode=1777"}},
		{"opposites win", translate.MountSpec{TmpfsOptions: []string{"noexec", "exec", "suid", "dev"}},
			[]string{"exec", "suid", "dev", "mode=1777"}},
	} {
		if got := tmpfsOptions(tc.m); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: tmpfsOptions = %q, want %q", tc.name, got, tc.want)
		}
	}
}
