package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/compod/compod/translate"
)

// A service's seccomp profile file (security_opt seccomp=FILE, docker's
// format, read and checked by translate) becomes the OCI profile here, as
// docker makes it: the host's architecture with the ones it also runs
// (archMap), and the rules whose includes/excludes hold for the service's
// final capability set, this architecture and this kernel.

// nativeSeccompArch is libseccomp's name of the architecture compod runs on.
var nativeSeccompArch = map[string]string{
	"amd64": "SCMP_ARCH_X86_64", "386": "SCMP_ARCH_X86", "arm64": "SCMP_ARCH_AARCH64", "arm": "SCMP_ARCH_ARM",
	"ppc64le": "SCMP_ARCH_PPC64LE", "s390x": "SCMP_ARCH_S390X", "riscv64": "SCMP_ARCH_RISCV64",
}[goruntime.GOARCH]

// withSeccompProfile applies the profile; it goes after the capabilities
// are final (withComposeCapabilities), since rules may depend on them.
func withSeccompProfile(service string, raw json.RawMessage) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		var p translate.SeccompProfile
		if err := json.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("service %q: field \"security_opt\": seccomp profile: %w", service, err)
		}
		var caps []string
		if s.Process != nil && s.Process.Capabilities != nil {
			caps = s.Process.Capabilities.Bounding
		}
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		s.Linux.Seccomp = ociSeccomp(&p, caps, nativeSeccompArch, kernelRelease())
		return nil
	}
}

// ociSeccomp turns a docker profile into the OCI one for caps, arch and
// kernel ("major.minor...").
func ociSeccomp(p *translate.SeccompProfile, caps []string, arch, kernel string) *specs.LinuxSeccomp {
	out := &specs.LinuxSeccomp{DefaultAction: specs.LinuxSeccompAction(p.DefaultAction), DefaultErrnoRet: p.DefaultErrnoRet}
	for _, a := range p.Architectures {
		out.Architectures = append(out.Architectures, specs.Arch(a))
	}
	for _, m := range p.ArchMap {
		if m.Architecture != arch {
			continue
		}
		out.Architectures = append(out.Architectures, specs.Arch(m.Architecture))
		for _, sub := range m.SubArchitectures {
			out.Architectures = append(out.Architectures, specs.Arch(sub))
		}
	}
	for _, f := range p.Flags {
		out.Flags = append(out.Flags, specs.LinuxSeccompFlag(f))
	}
	for _, r := range p.Syscalls {
		if r.Includes != nil && !filterHolds(r.Includes, caps, arch, kernel, true) {
			continue
		}
		if r.Excludes != nil && filterHolds(r.Excludes, caps, arch, kernel, false) {
			continue
		}
		names := r.Names
		if r.Name != "" {
			names = append([]string{r.Name}, names...)
		}
		sc := specs.LinuxSyscall{Names: names, Action: specs.LinuxSeccompAction(r.Action), ErrnoRet: r.ErrnoRet}
		for _, a := range r.Args {
			sc.Args = append(sc.Args, specs.LinuxSeccompArg{Index: a.Index, Value: a.Value, ValueTwo: a.ValueTwo, Op: specs.LinuxSeccompOperator(a.Op)})
		}
		out.Syscalls = append(out.Syscalls, sc)
	}
	return out
}

// filterHolds: for includes (all), every cap and the arch and kernel
// match; for excludes (all == false), any of them does.
func filterHolds(f *translate.SeccompFilter, caps []string, arch, kernel string, all bool) bool {
	var checks []bool
	for _, c := range f.Caps {
		checks = append(checks, slices.Contains(caps, c))
	}
	if len(f.Arches) > 0 {
		checks = append(checks, slices.Contains(f.Arches, arch))
	}
	if f.MinKernel != "" {
		checks = append(checks, kernelAtLeast(kernel, f.MinKernel))
	}
	if all {
		return !slices.Contains(checks, false)
	}
	return slices.Contains(checks, true)
}

// kernelAtLeast compares "major.minor" prefixes.
func kernelAtLeast(have, want string) bool {
	parse := func(v string) (int, int) {
		parts := strings.SplitN(v, ".", 3)
		maj, _ := strconv.Atoi(parts[0])
		minor := 0
		if len(parts) > 1 {
			minor, _ = strconv.Atoi(strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
		}
		return maj, minor
	}
	hm, hn := parse(have)
	wm, wn := parse(want)
	return hm > wm || (hm == wm && hn >= wn)
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
