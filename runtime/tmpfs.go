package runtime

import (
	"fmt"
	"slices"
	"strings"

	"github.com/compod/compod/translate"
)

// tmpfsOptions are the mount options of a tmpfs mount: compod's defaults
// (nosuid, nodev, mode 1777), with the compose options laid over them.
// A flag replaces its opposite (exec → no noexec, suid → no nosuid),
// so that runc gets each once and the user's wins.
func tmpfsOptions(m translate.MountSpec) []string {
	o := []string{"nosuid", "nodev"}
	for _, opt := range m.TmpfsOptions {
		if opposite, ok := tmpfsOpposites[opt]; ok {
			o = slices.DeleteFunc(o, func(x string) bool { return x == opposite })
			if !slices.Contains(o, opt) {
				o = append(o, opt)
			}
			continue
		}
		// uid=N, gid=N: translate let nothing else through.
		key, _, _ := strings.Cut(opt, "=")
		o = slices.DeleteFunc(o, func(x string) bool { return strings.HasPrefix(x, key+"=") })
		o = append(o, opt)
	}
	mode := m.TmpfsMode
	if mode == 0 {
		mode = 0o1777
	}
	o = append(o, fmt.Sprintf("mode=%04o", mode))
	if m.TmpfsSize > 0 {
		o = append(o, fmt.Sprintf("size=%d", m.TmpfsSize))
	}
	if m.ReadOnly {
		o = append(o, "ro")
	}
	return o
}

// tmpfsOpposites pairs each mount flag with the one it cancels.
var tmpfsOpposites = map[string]string{
	"noexec": "exec", "exec": "noexec",
	"nosuid": "suid", "suid": "nosuid",
	"nodev": "dev", "dev": "nodev",
}
