package translate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// security_opt seccomp=<file>: a seccomp profile in docker's format (the
// format of docker's own default profile, default.json), loaded from the
// project directory when the file is translated, so the profile that the
// policy judged is the one the service gets. The runtime turns it into the
// OCI form for the service's final capability set, the host's
// architecture and kernel (SeccompProfile.Resolve in runtime).

// SeccompProfile is docker's seccomp profile format.
type SeccompProfile struct {
	DefaultAction   string           `json:"defaultAction"`
	DefaultErrnoRet *uint            `json:"defaultErrnoRet,omitempty"`
	Architectures   []string         `json:"architectures,omitempty"`
	ArchMap         []SeccompArchMap `json:"archMap,omitempty"`
	Syscalls        []SeccompSyscall `json:"syscalls,omitempty"`
	Flags           []string         `json:"flags,omitempty"`
	ListenerPath    string           `json:"listenerPath,omitempty"`
}

// SeccompArchMap is a native architecture with the ones it also runs.
type SeccompArchMap struct {
	Architecture     string   `json:"architecture"`
	SubArchitectures []string `json:"subArchitectures,omitempty"`
}

// SeccompSyscall is one rule; Includes and Excludes make it apply only
// with (or without) some capabilities, architectures or kernels.
type SeccompSyscall struct {
	Name     string         `json:"name,omitempty"`
	Names    []string       `json:"names,omitempty"`
	Action   string         `json:"action"`
	ErrnoRet *uint          `json:"errnoRet,omitempty"`
	Args     []SeccompArg   `json:"args,omitempty"`
	Includes *SeccompFilter `json:"includes,omitempty"`
	Excludes *SeccompFilter `json:"excludes,omitempty"`
	Comment  string         `json:"comment,omitempty"`
}

// SeccompArg compares one argument of the syscall.
type SeccompArg struct {
	Index    uint   `json:"index"`
	Value    uint64 `json:"value"`
	ValueTwo uint64 `json:"valueTwo,omitempty"`
	Op       string `json:"op"`
}

// SeccompFilter is a rule's condition.
type SeccompFilter struct {
	Caps      []string `json:"caps,omitempty"`
	Arches    []string `json:"arches,omitempty"`
	MinKernel string   `json:"minKernel,omitempty"`
}

var (
	seccompActions = []string{"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"}
	seccompOps     = []string{"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"}
)

// loadSeccompProfile reads and checks a profile file (relative paths are
// the project directory's) and returns it compacted, as the plan keeps it.
func (t *translator) loadSeccompProfile(service, field, file string) json.RawMessage {
	path := file
	if !filepath.IsAbs(path) {
		path = filepath.Join(t.p.WorkingDir, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.fail(service, field, "reading the seccomp profile: %v", err)
		return nil
	}
	var p SeccompProfile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.fail(service, field, "seccomp profile %s is not a profile in docker's format: %v", file, err)
		return nil
	}
	if problem := p.check(); problem != "" {
		t.fail(service, field, "seccomp profile %s: %s", file, problem)
		return nil
	}
	var out bytes.Buffer
	if err := json.Compact(&out, data); err != nil {
		t.fail(service, field, "seccomp profile %s: %v", file, err)
		return nil
	}
	return out.Bytes()
}

// check names the first thing wrong with the profile.
func (p *SeccompProfile) check() string {
	if !slices.Contains(seccompActions, p.DefaultAction) {
		return fmt.Sprintf("defaultAction %q: want one of %s", p.DefaultAction, strings.Join(seccompActions, ", "))
	}
	if len(p.Architectures) > 0 && len(p.ArchMap) > 0 {
		return "architectures and archMap are exclusive"
	}
	if p.ListenerPath != "" || slices.Contains(p.Flags, "SECCOMP_FILTER_FLAG_NEW_LISTENER") {
		return "seccomp notify listeners are not supported"
	}
	for i, s := range p.Syscalls {
		if s.Name == "" && len(s.Names) == 0 {
			return fmt.Sprintf("syscalls[%d] names no syscall", i)
		}
		if !slices.Contains(seccompActions, s.Action) || s.Action == "SCMP_ACT_NOTIFY" {
			return fmt.Sprintf("syscalls[%d]: action %q is not supported", i, s.Action)
		}
		for j, a := range s.Args {
			if !slices.Contains(seccompOps, a.Op) {
				return fmt.Sprintf("syscalls[%d].args[%d]: op %q: want one of %s", i, j, a.Op, strings.Join(seccompOps, ", "))
			}
		}
	}
	return ""
}
