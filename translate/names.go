package translate

import (
	"errors"
	"fmt"
	"regexp"
)

// Pod and service names become containerd ids (<pod>_<service>,
// <pod>_pause), netns, CNI and cgroup names and directories of the state
// dir. A name is checked here, once, against compose's rule and against
// what containerd accepts, so that a bad one is an error naming the file
// and service rather than a failure half way through a launch, and so that
// no command can be pointed outside the state dir (-p ../x).

// maxNameLen bounds pod names: they are prefixed to every container id.
const maxNameLen = 40

// maxContainerIDLen is containerd's limit on ids (pkg/identifiers).
const maxContainerIDLen = 76

var (
	// podNameRe is compose's project name rule.
	podNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	// serviceNameRe is compose's service name rule.
	serviceNameRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	// idPartRe is containerd's identifier rule (runs of letters and digits
	// joined by single separators), which a name must also follow since
	// it becomes part of container ids.
	idPartRe = regexp.MustCompile(`^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$`)
)

// ValidatePodName reports whether name can name a pod. Every command that
// takes a pod name checks it with this (through translate.Load or the
// runtime's pod record lookup).
func ValidatePodName(name string) error {
	switch {
	case name == "":
		return errors.New("pod (project) name is empty")
	case len(name) > maxNameLen:
		return fmt.Errorf("pod (project) name %q is longer than %d characters", name, maxNameLen)
	case !podNameRe.MatchString(name):
		return fmt.Errorf("pod (project) name %q is invalid: use lowercase letters, digits, '-' and '_', starting with a letter or digit", name)
	case !idPartRe.MatchString(name):
		return fmt.Errorf("pod (project) name %q is invalid: it must end with a letter or digit and not have two '-' or '_' in a row (it is part of containerd ids)", name)
	}
	return nil
}

// serviceNameProblem says what is wrong with a service name of pod, or "".
func serviceNameProblem(pod, name string) string {
	switch {
	case !serviceNameRe.MatchString(name):
		return fmt.Sprintf("invalid service name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", name)
	case !idPartRe.MatchString(name):
		return fmt.Sprintf("invalid service name %q: it must end with a letter or digit and not have two of '_', '.', '-' in a row (it is part of the container id)", name)
	case len(pod)+1+len(name) > maxContainerIDLen:
		return fmt.Sprintf("service name %q is too long: the container id %s_%s would be longer than containerd's %d characters", name, pod, name, maxContainerIDLen)
	}
	return ""
}

// ValidateVolumeName checks a named volume's name (`compod volume create`,
// a volume's `name:`): docker's rule, which also makes it one directory
// name.
func ValidateVolumeName(name string) error {
	if !volumeNameRe.MatchString(name) {
		return fmt.Errorf("invalid volume name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", name)
	}
	return nil
}
