package runtime

import (
	"encoding/json"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/compod/compod/translate"
)

// A docker-format profile becomes the OCI one as docker makes it: the
// native architecture and its sub-architectures, and only the rules whose
// includes hold and whose excludes do not, for these capabilities, this
// architecture and this kernel.
func TestOCISeccomp(t *testing.T) {
	var p translate.SeccompProfile
	if err := json.Unmarshal([]byte(`{
		"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
		"archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
		            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
		"syscalls": [
			{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
			{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
			{"names": ["newer"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "9.1"}},
			{"names": ["arm_only"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["SCMP_ARCH_AARCH64"]}},
			{"name": "personality", "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}], "excludes": {"caps": ["CAP_SYS_ADMIN"]}}
		]}`), &p); err != nil {
		t.Fatal(err)
	}
	one := uint(1)
	got := ociSeccomp(&p, []string{"CAP_CHOWN"}, "SCMP_ARCH_X86_64", "6.1.0-18-amd64")
	want := &specs.LinuxSeccomp{
		DefaultAction: "SCMP_ACT_ERRNO", DefaultErrnoRet: &one,
		Architectures: []specs.Arch{"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write"}, Action: "SCMP_ACT_ALLOW"},
			{Names: []string{"ptrace"}, Action: "SCMP_ACT_ALLOW"},
			{Names: []string{"personality"}, Action: "SCMP_ACT_ALLOW", Args: []specs.LinuxSeccompArg{{Index: 0, Value: 8, Op: "SCMP_CMP_EQ"}}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// With CAP_SYS_ADMIN: mount is in, the personality rule out.
	admin := ociSeccomp(&p, []string{"CAP_SYS_ADMIN"}, "SCMP_ARCH_X86_64", "6.1.0")
	var names []string
	for _, s := range admin.Syscalls {
		names = append(names, s.Names...)
	}
	if !reflect.DeepEqual(names, []string{"read", "write", "mount", "ptrace"}) {
		t.Errorf("with CAP_SYS_ADMIN: syscalls %v", names)
	}
}
