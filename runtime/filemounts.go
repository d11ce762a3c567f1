package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/compod/compod/translate"
)

// A service's secrets and configs (translate.FileMount) are copies made
// in the pod's directory at launch, with the owner and mode the service
// asks for, bind-mounted read-only. A copy, not a bind of the user's file:
// a change of the source does not reach a running pod, and the mode and
// owner are the asked ones whatever the source's. They go with the pod
// directory at down.

// modeFileMountDir is the mode of <pod>/secrets, <pod>/configs and their
// per-service directories: only root (runc, before the service's user
// takes over) walks them to reach the files.
const modeFileMountDir os.FileMode = 0o700

// writeFileMounts writes every service's secrets and configs into the
// pod's directory. It runs before any service is created.
func (e *Engine) writeFileMounts(plan *translate.PodPlan) error {
	podDir := e.podDir(plan.Name)
	for _, svc := range plan.Services {
		for i, fm := range svc.FileMounts {
			if err := writeFileMount(fileMountPath(podDir, &svc, i), fm); err != nil {
				return fmt.Errorf("service %q: %s %q: %w", svc.Name, fm.Kind, fm.Name, err)
			}
		}
	}
	return nil
}

func writeFileMount(path string, fm translate.FileMount) error {
	for _, dir := range []string{filepath.Dir(filepath.Dir(path)), filepath.Dir(path)} {
		if err := mkdirMode(dir, modeFileMountDir); err != nil {
			return err
		}
	}
	data := []byte(fm.Content)
	if fm.File != "" {
		var err error
		if data, err = os.ReadFile(fm.File); err != nil {
			return fmt.Errorf("reading its file: %w", err)
		}
	}
	// Written private first: the owner and mode asked for come after the
	// content is complete.
	if err := writeFileMode(path, data, 0o600); err != nil {
		return err
	}
	if err := os.Chown(path, int(fm.UID), int(fm.GID)); err != nil {
		return fmt.Errorf("setting the owner of %s to %d:%d: %w", path, fm.UID, fm.GID, err)
	}
	// After the chown, which clears setuid and setgid bits.
	if err := os.Chmod(path, os.FileMode(fm.Mode&0o777)|modeSpecialBits(fm.Mode)); err != nil {
		return fmt.Errorf("setting the mode of %s to %#o: %w", path, fm.Mode, err)
	}
	return nil
}

// modeSpecialBits turns the setuid, setgid and sticky bits of a Unix mode
// into Go's os.FileMode bits.
func modeSpecialBits(mode uint32) os.FileMode {
	var m os.FileMode
	if mode&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

// fileMountPath is where the i-th secret or config of svc is kept:
// <pod>/secrets/<service>/<name> (configs/ for configs); a name the
// service mounts more than once (at several targets) gets .2, .3, ...
func fileMountPath(podDir string, svc *translate.ServiceSpec, i int) string {
	fm := svc.FileMounts[i]
	name, n := fm.Name, 1
	for _, prev := range svc.FileMounts[:i] {
		if prev.Kind == fm.Kind && prev.Name == fm.Name {
			n++
		}
	}
	if n > 1 {
		name += "." + strconv.Itoa(n)
	}
	return filepath.Join(podDir, fm.Kind+"s", svc.Name, name)
}

// fileMountSpecs are the read-only bind mounts of a service's secrets and
// configs.
func fileMountSpecs(podDir string, svc *translate.ServiceSpec) []specs.Mount {
	var out []specs.Mount
	for i, fm := range svc.FileMounts {
		out = append(out, bindMount(fileMountPath(podDir, svc, i), fm.Target, true))
	}
	return out
}
