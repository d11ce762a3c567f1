package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/containerd/continuity"

	"github.com/compod/compod/cni"
	"github.com/compod/compod/translate"
)

// PodRecord is what compod keeps on disk about a pod between commands:
// enough to tear it down (netns, CNI attachment, cgroup) even when compod,
// the pause process or containerd's view of it is gone.
type PodRecord struct {
	Plan      translate.PodPlan `json:"plan"`
	Namespace string            `json:"namespace"`
	// Instance is the id of the compod instance (state dir and namespace,
	// see names.go) that launched the pod, which its host-wide names
	// carry; "" in records of a compod from before instances.
	Instance string `json:"instance,omitempty"`
	// NetNSPath is the pod's netns pin, CNIID the container id of its CNI
	// attachment and Cgroup its cgroup: removal uses the names the launch
	// used, whatever this compod would name them.
	NetNSPath string `json:"netnsPath,omitempty"`
	CNIID     string `json:"cniID,omitempty"`
	Network   string `json:"network,omitempty"`
	// CNI is the network the pod is attached to (conf file, bin dirs,
	// IPAM dir): its DEL runs against it, whatever conf dir the compod
	// that removes the pod is configured with. Records from before it
	// was kept have none; the engine's configuration is used for them.
	CNI *cni.Config `json:"cni,omitempty"`
	// Networks are every network the pod is on, in interface order (the
	// first one is also CNI, IP and Network above). Records from before
	// several networks have none: CNI is their one network.
	Networks []NetworkAttachment `json:"networks,omitempty"`
	// NetworkMode "none": the pod's netns has loopback only; "host": the
	// pod runs in the host's network namespace (no NetNSPath, no CNI:
	// down and gc have no network to release).
	NetworkMode string    `json:"networkMode,omitempty"`
	IP          string    `json:"ip,omitempty"`
	Cgroup      string    `json:"cgroup"`
	Created     time.Time `json:"created"`
	// VolumesDir is where the launch found or made the pod's named
	// volumes (volumes.go).
	VolumesDir string `json:"volumesDir,omitempty"`
	// LogDir is where the services' log files are, when not in the pod's
	// directory (WithLogDir).
	LogDir string `json:"logDir,omitempty"`
	// Ports are the published ports with host ports assigned.
	Ports []translate.PortMapping `json:"ports,omitempty"`
	// Owner says who launched the pod and holds its owner lock for as long
	// as it runs it (see owner.go); nil for pods of the CLI.
	Owner map[string]string `json:"owner,omitempty"`
	// Launching: the launch has not completed (Up clears it at the end).
	// With the pod's mutation lock free, the launching process died half
	// way: `ps` says so, and gc or down removes what it made.
	Launching bool `json:"launching,omitempty"`
}

const recordFile = "pod.json"

func (e *Engine) writeRecord(rec *PodRecord) error {
	dir := e.podDir(rec.Plan.Name)
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	// Atomic (a temporary file of its own, synced, renamed): a reader, or
	// a compod killed mid-write, never sees half a record.
	if err := continuity.AtomicWriteFile(filepath.Join(dir, recordFile), data, modePrivateFile); err != nil {
		return fmt.Errorf("writing pod record: %w", err)
	}
	return nil
}

// ErrPodNotFound is returned for a pod compod has no record of.
var ErrPodNotFound = errors.New("pod not found")

// readRecord is where every command on an existing pod (down, stop, ps,
// logs, supervise, the executor's watch) starts, so it checks the name
// first: a name is a directory of the state dir, and -p ../../x must not
// reach outside it.
func (e *Engine) readRecord(pod string) (*PodRecord, error) {
	if err := translate.ValidatePodName(pod); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(e.podDir(pod), recordFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("pod %q: %w (see `compod ps`)", pod, ErrPodNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading record of pod %q: %w", pod, err)
	}
	var rec PodRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("reading record of pod %q: %w", pod, err)
	}
	return &rec, nil
}

// records returns every pod record of this engine's namespace, by name.
func (e *Engine) records() ([]*PodRecord, error) {
	entries, err := os.ReadDir(e.podsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // no pod was ever started with this state dir
	}
	if err != nil {
		return nil, fmt.Errorf("listing pods: %w", err)
	}
	var out []*PodRecord
	for _, ent := range entries {
		if !ent.IsDir() {
			continue
		}
		rec, err := e.readRecord(ent.Name())
		if err != nil {
			continue // a pod directory half made or half removed: not a pod
		}
		if rec.Namespace == e.namespace {
			out = append(out, rec)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Plan.Name < out[j].Plan.Name })
	return out, nil
}
