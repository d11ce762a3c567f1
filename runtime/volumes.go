package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/compod/compod/translate"
)

// Volumes. A named volume is a directory <volumes dir>/<host name> that
// outlives the pod, as docker's volumes do: `down` keeps it, `down -v`
// removes it (never an external one), and the pod started again mounts the
// same data. Standalone, the volumes dir is <state dir>/volumes; the Mesos
// executor puts it in the task sandbox (kept as long as Mesos keeps the
// sandbox). An anonymous volume is a directory of the pod and goes with it.

// WithVolumesDir sets where named volumes live (default <state dir>/volumes).
func WithVolumesDir(dir string) Option { return func(e *Engine) { e.volumesDir = dir } }

// VolumesDir is where this engine keeps named volumes.
func (e *Engine) VolumesDir() string {
	if e.volumesDir != "" {
		return e.volumesDir
	}
	return filepath.Join(e.stateDir, "volumes")
}

// volumePath is the host directory of the pod's volume name (a mount's
// Source). rec.VolumesDir is where the launch put the named ones.
func (e *Engine) volumePath(rec *PodRecord, name string) string {
	for _, v := range rec.Plan.Volumes {
		if v.Name == name && v.HostName != "" {
			dir := rec.VolumesDir
			if dir == "" {
				dir = e.VolumesDir()
			}
			return filepath.Join(dir, v.HostName)
		}
	}
	return filepath.Join(e.podDir(rec.Plan.Name), "volumes", name)
}

// checkExternalVolumes fails when an external volume does not exist: the
// launch is refused before anything is made.
func (e *Engine) checkExternalVolumes(plan *translate.PodPlan) error {
	var errs []error
	for _, v := range plan.Volumes {
		if !v.External {
			continue
		}
		dir := filepath.Join(e.VolumesDir(), v.HostName)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("volume %q: external volume %q does not exist in %s: create it with `compod volume create %s`",
				v.Name, v.HostName, e.VolumesDir(), v.HostName))
		}
	}
	return errors.Join(errs...)
}

// makeVolumes creates the pod's volume directories that do not exist yet
// (an existing named volume keeps its data and its mode) and registers
// the removal of those it made with the launch's rollback.
func (e *Engine) makeVolumes(rec *PodRecord, rb *rollback) error {
	for _, v := range rec.Plan.Volumes {
		dir := e.volumePath(rec, v.Name)
		if _, err := os.Stat(dir); err == nil {
			continue
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
		if v.HostName != "" {
			if err := mkdirMode(filepath.Dir(dir), modeVolumesDir); err != nil {
				return fmt.Errorf("creating the volumes directory: %w", err)
			}
			// Made by this launch: a failed launch leaves no volume behind.
			rb.add("remove volume "+v.HostName, func(context.Context) error { return os.RemoveAll(dir) })
		}
		// Owned by root, 0755, as a fresh docker volume: services read
		// it; one running as another user writes only once a root
		// service has given it the directory.
		if err := mkdirMode(dir, modeVolumeDir); err != nil {
			return fmt.Errorf("creating volume %q: %w", v.Name, err)
		}
	}
	return nil
}

// removeNamedVolumes removes the pod's named volumes that are not
// external (`down -v`).
func (e *Engine) removeNamedVolumes(rec *PodRecord) error {
	var errs []error
	for _, v := range rec.Plan.Volumes {
		if v.HostName == "" || v.External {
			continue
		}
		if err := os.RemoveAll(e.volumePath(rec, v.Name)); err != nil {
			errs = append(errs, fmt.Errorf("removing volume %q: %w", v.HostName, err))
		}
	}
	return errors.Join(errs...)
}

// Volume is a named volume on the host.
type Volume struct {
	Name string `json:"name"`
	Path string `json:"path"`
}

// ListVolumes lists the named volumes in the volumes dir.
func (e *Engine) ListVolumes() ([]Volume, error) {
	ents, err := os.ReadDir(e.VolumesDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing volumes: %w", err)
	}
	var out []Volume
	for _, d := range ents {
		if d.IsDir() {
			out = append(out, Volume{Name: d.Name(), Path: filepath.Join(e.VolumesDir(), d.Name())})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// CreateVolume makes the named volume (for `external: true`); an existing
// one is kept as it is.
func (e *Engine) CreateVolume(name string) (Volume, error) {
	if err := translate.ValidateVolumeName(name); err != nil {
		return Volume{}, err
	}
	if err := mkdirMode(e.VolumesDir(), modeVolumesDir); err != nil {
		return Volume{}, fmt.Errorf("creating the volumes directory: %w", err)
	}
	dir := filepath.Join(e.VolumesDir(), name)
	if err := os.Mkdir(dir, modeVolumeDir); err != nil && !errors.Is(err, os.ErrExist) {
		return Volume{}, fmt.Errorf("creating volume %q: %w", name, err)
	}
	return Volume{Name: name, Path: dir}, os.Chmod(dir, modeVolumeDir)
}

// InspectVolume returns the named volume, or an error naming it when it
// does not exist.
func (e *Engine) InspectVolume(name string) (Volume, error) {
	if err := translate.ValidateVolumeName(name); err != nil {
		return Volume{}, err
	}
	dir := filepath.Join(e.VolumesDir(), name)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return Volume{}, fmt.Errorf("volume %q not found in %s", name, e.VolumesDir())
	}
	return Volume{Name: name, Path: dir}, nil
}

// RemoveVolume removes the named volume and its data. A volume that a pod
// of this engine mounts is refused, naming the pod.
func (e *Engine) RemoveVolume(name string) error {
	v, err := e.InspectVolume(name)
	if err != nil {
		return err
	}
	recs, err := e.records()
	if err != nil {
		return err
	}
	for _, rec := range recs {
		for _, pv := range rec.Plan.Volumes {
			if pv.HostName == name && e.volumePath(rec, pv.Name) == v.Path {
				return fmt.Errorf("volume %q is in use by pod %q: run compod down -p %s first", name, rec.Plan.Name, rec.Plan.Name)
			}
		}
	}
	if err := os.RemoveAll(v.Path); err != nil {
		return fmt.Errorf("removing volume %q: %w", name, err)
	}
	return nil
}

// prepareBindSources checks every bind source before the launch makes
// anything: a missing one is made as a directory when the compose file
// allows it (docker's short syntax `./data:/data`, or long syntax with
// bind.create_host_path), else it fails the launch naming service, target
// and path. Made directories stay, as docker leaves them: they are the
// user's files, not the pod's.
func prepareBindSources(plan *translate.PodPlan) error {
	var errs []error
	for _, s := range plan.Services {
		for _, m := range s.Mounts {
			if m.Type != "bind" {
				continue
			}
			_, err := os.Stat(m.Source)
			switch {
			case err == nil:
			case errors.Is(err, os.ErrNotExist) && m.CreateHostPath:
				if err := os.MkdirAll(m.Source, 0o755); err != nil {
					errs = append(errs, fmt.Errorf("service %q: field \"volumes\" (%s): creating the missing bind source %s: %w", s.Name, m.Target, m.Source, err))
				}
			case errors.Is(err, os.ErrNotExist):
				errs = append(errs, fmt.Errorf("service %q: field \"volumes\" (%s): bind source %s does not exist: create it, or set bind.create_host_path: true", s.Name, m.Target, m.Source))
			default:
				errs = append(errs, fmt.Errorf("service %q: field \"volumes\" (%s): bind source %s: %w", s.Name, m.Target, m.Source, err))
			}
		}
	}
	return errors.Join(errs...)
}
