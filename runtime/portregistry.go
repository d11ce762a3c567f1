package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/compod/compod/translate"
)

// The host-wide port registry. A host port published by a pod is claimed
// in a directory every compod instance on the host shares (default
// /run/compod/ports: on tmpfs, so claims go at reboot with the pods), so
// that two instances (other state dirs, other containerd namespaces) never
// publish the same port: CNI's portmap would accept both and the traffic
// would go to whichever rules came first. There is one file per claimed
// port, <proto>-<port>, naming the instance and pod that publish it; it is
// made with O_EXCL, and every change to the directory happens under an
// exclusive flock on its .lock file, held for a moment.
//
// A port is claimed by `up` before the pod's CNI ADD and released when the
// pod's state is removed (down, a launch's rollback, gc). A claim is kept
// for as long as its pod exists, also when the pod's owner is gone (a
// killed executor's pod, a stopped pod): the pod's portmap rules are still
// in place until it is removed, and a second pod on the port would not get
// its traffic. A claim is stale, and taken over, when its pod no longer
// exists: its state dir or record is gone, or the record no longer
// publishes the port, while no compod process is launching or removing it
// (the pod's mutation lock is free: a launch claims its ports before it
// writes the pod's record).
//
// The port is the key, whatever the host IP: publishing 127.0.0.1:80 and
// 0.0.0.0:80 from two pods does not work either. That no program other
// than compod holds the port is still checked when the network is attached
// (cni.CheckHostPortsFree).

const (
	// DefaultPortRegistryDir is the host-wide port registry.
	DefaultPortRegistryDir = "/run/compod/ports"
	// PortRegistryEnv, when set, replaces DefaultPortRegistryDir (for
	// tests; every instance on a host must use the same directory).
	PortRegistryEnv = "COMPOD_PORT_REGISTRY"

	portRegistryLock = ".lock"
)

// portClaim is the content of a claim file.
type portClaim struct {
	Instance  string    `json:"instance"`
	StateDir  string    `json:"stateDir"`
	Namespace string    `json:"namespace"`
	Pod       string    `json:"pod"`
	Service   string    `json:"service"`
	HostIP    string    `json:"hostIP,omitempty"`
	Claimed   time.Time `json:"claimed"`
}

func claimName(proto string, port uint16) string { return proto + "-" + strconv.Itoa(int(port)) }

// lockPortRegistry takes the registry's host-wide lock. Holders keep it for
// the few file operations of one claim or release, so it is waited for.
func (e *Engine) lockPortRegistry() (unlock func(), err error) {
	if err := os.MkdirAll(e.portRegistry, 0o700); err != nil {
		return nil, fmt.Errorf("host port registry %s: %w", e.portRegistry, err)
	}
	f, err := os.OpenFile(filepath.Join(e.portRegistry, portRegistryLock), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("host port registry: opening its lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("host port registry: taking its lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// claimPort claims proto/port for the pod's service; the caller holds the
// registry lock. It fails, naming the pod and instance that publish the
// port, when a live claim of another pod holds it.
func (e *Engine) claimPort(pod string, p translate.PortMapping) error {
	file := filepath.Join(e.portRegistry, claimName(p.Protocol, p.HostPort))
	if old, err := readClaim(file); err == nil {
		if !(old.Instance == e.instance && old.Pod == pod) {
			if why := claimStale(old, p.Protocol, p.HostPort); why == "" {
				return fmt.Errorf("service %q: field \"ports\": host port %d/%s is already published by pod %q of another compod instance (state dir %s, containerd namespace %q): choose another port or stop that pod",
					p.Service, p.HostPort, p.Protocol, old.Pod, old.StateDir, old.Namespace)
			} else {
				e.log.Info("taking over a stale host port claim", "port", claimName(p.Protocol, p.HostPort),
					"its_pod", old.Pod, "its_state_dir", old.StateDir, "its_namespace", old.Namespace, "stale", why)
			}
		}
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("host port registry: removing stale claim %s: %w", file, err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		// Unreadable: a claimer that died between making the file and
		// writing it (all under the registry lock). Nobody holds it.
		e.log.Warn("replacing an unreadable host port claim", "file", file, "err", err)
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("host port registry: removing unreadable claim %s: %w", file, err)
		}
	}
	data, err := json.Marshal(portClaim{Instance: e.instance, StateDir: e.stateDir, Namespace: e.namespace,
		Pod: pod, Service: p.Service, HostIP: p.HostIP, Claimed: time.Now().UTC()})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("host port registry: claiming %s: %w", file, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(file)
		return fmt.Errorf("host port registry: writing claim %s: %w", file, err)
	}
	return nil
}

func readClaim(file string) (*portClaim, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var c portClaim
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, err
	}
	if c.StateDir == "" || c.Pod == "" {
		return nil, errors.New("claim names no pod")
	}
	return &c, nil
}

// claimStale says why a claim's pod no longer exists, or "" when it may.
// It looks at the claiming instance's state dir: the pod's mutation lock
// (podlock.go), then its record.
func claimStale(c *portClaim, proto string, port uint16) string {
	if translate.ValidatePodName(c.Pod) != nil {
		return "the claim names no valid pod"
	}
	if _, err := os.Stat(c.StateDir); errors.Is(err, fs.ErrNotExist) {
		return "its state dir is gone"
	}
	// A launch claims its ports before it writes the record, and a removal
	// releases them after it removed the pod: while either runs, the
	// pod's mutation lock is held. A shared lock taken for a moment tells
	// without waiting.
	if f, err := os.Open(filepath.Join(c.StateDir, locksDirName, c.Pod+".lock")); err == nil {
		err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		f.Close()
		if err != nil {
			return "" // being launched or removed (or the lock cannot be read: not ours to judge)
		}
	}
	data, err := os.ReadFile(filepath.Join(c.StateDir, "pods", c.Pod, recordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "its pod has no record"
	}
	if err != nil {
		return "" // cannot tell
	}
	var rec PodRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return ""
	}
	if rec.Namespace != c.Namespace || !slices.ContainsFunc(rec.Ports, func(m translate.PortMapping) bool {
		return m.HostPort == port && orTCP(m.Protocol) == proto
	}) {
		return "its pod no longer publishes the port"
	}
	return ""
}

func orTCP(proto string) string {
	if proto == "" {
		return "tcp"
	}
	return proto
}

// releasePodPorts removes every claim of this instance's pod, whatever
// the pod's record says (a launch that died before writing its record
// claimed ports it does not name). The caller is removing the pod and
// holds its mutation lock.
func (e *Engine) releasePodPorts(pod string) error {
	ents, err := os.ReadDir(e.portRegistry)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("host port registry: %w", err)
	}
	unlock, err := e.lockPortRegistry()
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	for _, ent := range ents {
		if strings.HasPrefix(ent.Name(), ".") {
			continue
		}
		file := filepath.Join(e.portRegistry, ent.Name())
		c, err := readClaim(file)
		if err != nil || c.Instance != e.instance || c.Pod != pod {
			continue
		}
		if err := os.Remove(file); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("host port registry: releasing %s: %w", file, err))
		}
	}
	return errors.Join(errs...)
}
