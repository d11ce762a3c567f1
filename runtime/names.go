package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"

	"github.com/compod/compod/cgroups"
)

// Host-wide names. Several compod instances can share a host: a
// developer's `compod up`, one or more Mesos executors, a test suite, each
// with its own containerd namespace and/or state dir. What they make
// inside their state dir or their containerd namespace is theirs alone,
// but the netns pins (/run/netns), the cgroup tree and the CNI attachments
// (container id → IPAM reservation, iptables rules, libcni's cache key)
// are host-wide, so every such name carries the instance as well as the
// pod's name: two instances that run a pod of the same name never touch
// each other's pieces.
//
// The instance is the pair (absolute state dir, containerd namespace):
// a state dir holds one set of pod records per namespace, and records are
// what every command works from. The containerd address is left out on
// purpose: it is not part of a record, an operator may spell it several
// ways (unix://, symlinks), and two containerds that shared one state dir
// and namespace would collide in the state dir already. The id is a short
// hash (8 hex digits) so names stay readable and short: the netns pin is
// compod-<instance>-<pod>, the pod cgroup <parent>/<instance>-<pod>, the
// CNI id <namespace>-<instance>-<pod>, the launch lease
// compod-<instance>-<pod>.
//
// A pod's record keeps the names its launch used (PodRecord.Instance,
// NetNSPath, Cgroup, CNIID) and removal reads them from there; records of
// an older compod have no Instance, and their names are derived the way
// that compod did (legacy*).

// instanceIDLen is the length of an instance id: 32 bits of a sha256,
// enough to keep a host's handful of instances apart.
const instanceIDLen = 8

// InstanceID names the compod instance of a state dir and namespace: the
// part of every host-wide name of its pods that keeps them apart from other
// instances'.
func InstanceID(stateDir, namespace string) string {
	if abs, err := filepath.Abs(stateDir); err == nil {
		stateDir = abs
	}
	sum := sha256.Sum256([]byte(filepath.Clean(stateDir) + "\x00" + namespace))
	return hex.EncodeToString(sum[:])[:instanceIDLen]
}

// Instance is this engine's instance id (see names.go): the part of every
// host-wide name that keeps its pods apart from other compod instances'.
func (e *Engine) Instance() string { return e.instance }

// instanceLabels are the labels that mark a container as this instance's,
// with more labels given as key, value pairs.
func (e *Engine) instanceLabels(kv ...string) map[string]string {
	l := map[string]string{LabelInstance: e.instance, LabelStateDir: e.stateDir}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	return l
}

// ownContainer reports whether a container's labels make it this
// instance's; one without an instance label is from an older compod,
// which ran one instance per namespace, and counts as this one's.
func (e *Engine) ownContainer(labels map[string]string) bool {
	inst, ok := labels[LabelInstance]
	return !ok || inst == e.instance
}

// qualified is the host-wide form of a pod's name.
func (e *Engine) qualified(pod string) string { return e.instance + "-" + pod }

// netnsName is the pinned netns of a pod this engine launches, as
// `ip netns` shows it.
func (e *Engine) netnsName(pod string) string { return "compod-" + e.qualified(pod) }

// podCgroup is the cgroup of a pod this engine launches. It sits directly
// under the parent (not in a directory of the instance's) so that the
// parent of a pod's cgroup is the cgroup it was placed in: an executor's
// Mesos container, which gc removes with the dead executor's pods.
func (e *Engine) podCgroup(pod string) string {
	return cgroups.PodPath(e.cgroupParent, e.qualified(pod))
}

// cniID identifies the CNI attachment of a pod this engine launches (IPAM
// reservation, iptables comments, libcni's cache); the namespace is in it
// for whoever reads iptables.
func (e *Engine) cniID(pod string) string { return e.namespace + "-" + e.qualified(pod) }

// recCNIID is the CNI id a pod's attachment was made with.
func (e *Engine) recCNIID(rec *PodRecord) string {
	if rec.CNIID != "" {
		return rec.CNIID
	}
	ns := rec.Namespace
	if ns == "" {
		ns = e.namespace
	}
	return ns + "-" + rec.Plan.Name // legacy: before instances
}

// recNetNSName is the netns pin name of a pod whose record does not say
// where its netns is (yet): a launch sets NetNSPath before it pins.
func (e *Engine) recNetNSName(rec *PodRecord) string {
	if rec.Instance == "" {
		return "compod-" + rec.Plan.Name // legacy: before instances
	}
	return "compod-" + rec.Instance + "-" + rec.Plan.Name
}
