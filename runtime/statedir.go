package runtime

import (
	"fmt"
	"os"
)

// Modes of what compod keeps under its state dir. They match docker's for
// the same things: health-check output (monitor.json), the supervisor's
// log and service output can hold secrets, so only root reads them; what a
// service must read through a bind mount (/etc files, volumes) keeps the
// modes docker gives it.
const (
	// modePodDir is the mode of <state>/pods and of each pod's directory,
	// as docker's containers dir: root only (the group bit lets a
	// root-group process reach a path it was given, nothing more).
	modePodDir os.FileMode = 0o710
	// modeLogDir is the mode of a pod's logs directory.
	modeLogDir os.FileMode = 0o750
	// LogFileMode is the mode of a service's log files (docker's json logs
	// are 0640 too). The executor creates them with it when it links them
	// into the sandbox before the service has written anything.
	LogFileMode os.FileMode = 0o640
	// modePrivateFile is the mode of the pod record, monitor.json and the
	// supervisor's pid and log files.
	modePrivateFile os.FileMode = 0o600
	// modeEtcDir and modeEtcFile are for the pod's /etc files, which every
	// service user reads.
	modeEtcDir  os.FileMode = 0o755
	modeEtcFile os.FileMode = 0o644
	// modeVolumeDir is a named volume's mode: a fresh docker volume's.
	modeVolumeDir os.FileMode = 0o755
	// modeVolumesDir is the directory of named volumes: only root lists
	// them (docker's /var/lib/docker/volumes is 0701 for the same reason);
	// services reach their own through their bind mounts.
	modeVolumesDir os.FileMode = 0o701
)

// mkdirMode makes dir (with missing parents) and gives it exactly mode:
// MkdirAll alone leaves a directory made by an older compod as it was and
// lets the umask take bits away that readers inside the services need.
func mkdirMode(dir string, mode os.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("setting the mode of %s: %w", dir, err)
	}
	return nil
}

// writeFileMode writes a file and gives it exactly mode, whatever the
// umask and whatever mode an existing file had.
func writeFileMode(path string, data []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}
