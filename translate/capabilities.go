package translate

import (
	"fmt"
	"strings"
)

// AllCapabilities is the cap_add / cap_drop value that stands for every
// capability, in the canonical spelling the plan carries.
const AllCapabilities = "ALL"

// linuxCaps are the capability names the kernel knows (capability.h),
// without the CAP_ prefix; a typo would otherwise fail only when the
// container is created.
var linuxCaps = map[string]bool{}

func init() {
	for _, c := range strings.Fields(`CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID
		SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER
		SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE
		SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN
		SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE`) {
		linuxCaps[c] = true
	}
}

// CanonicalCapability spells a compose capability name the way the OCI
// spec does: docker accepts "sys_admin", "SYS_ADMIN" and "cap_sys_admin"
// alike, the spec wants "CAP_SYS_ADMIN". "all" in any case is
// AllCapabilities. ok is false for a name the kernel does not know.
func CanonicalCapability(name string) (canonical string, ok bool) {
	u := strings.ToUpper(strings.TrimSpace(name))
	if u == AllCapabilities {
		return AllCapabilities, true
	}
	u = strings.TrimPrefix(u, "CAP_")
	if !linuxCaps[u] {
		return "", false
	}
	return "CAP_" + u, true
}

// capabilities checks and canonicalizes cap_add or cap_drop, dropping
// repeats, so the runtime gets names it can apply as they are.
func (t *translator) capabilities(service, field string, caps []string) []string {
	if len(caps) == 0 {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for i, c := range caps {
		canon, ok := CanonicalCapability(c)
		if !ok {
			t.fail(service, fmt.Sprintf("%s[%d]", field, i), "unknown capability %q: use a name from capabilities(7), with or without CAP_, or ALL", c)
			continue
		}
		if !seen[canon] {
			seen[canon] = true
			out = append(out, canon)
		}
	}
	return out
}
