// Package translate turns compose files into a PodPlan: the complete,
// validated description of a pod that the runtime executes. It is pure: it
// reads the compose files and env files it is given and nothing else; it
// never touches containerd, the network or the host's namespaces.
package translate

import (
	"encoding/json"
	"time"
)

// PodPlan is everything the runtime needs to run one pod.
type PodPlan struct {
	// Name is the pod id: the compose project name. It names containers,
	// the netns, the state directory and the cgroup.
	Name string `json:"name"`
	// Files are the compose files the plan came from, absolute paths.
	Files []string `json:"files"`
	// WorkingDir is the compose project directory (relative paths in the
	// files were resolved against it).
	WorkingDir string `json:"workingDir"`
	// Services in a deterministic order that respects depends_on: every
	// service comes after the services it depends on.
	Services []ServiceSpec `json:"services"`
	// Hostname is the pod's hostname (the pause container's UTS
	// namespace, which services join unless they have their own
	// ServiceSpec.Hostname).
	Hostname string `json:"hostname"`
	// ContainerNames are the services' container_name values: in
	// /etc/hosts, as the service names are, so a service reaches another
	// by either (the containers themselves are named <pod>_<service>).
	ContainerNames []string `json:"containerNames,omitempty"`
	// ExtraHosts are extra /etc/hosts entries of all services, merged.
	ExtraHosts []HostEntry `json:"extraHosts,omitempty"`
	// DNS is the pod's resolv.conf; empty means "copy the host's".
	DNS DNSConfig `json:"dns"`
	// Volumes are the volumes the services mount (named and anonymous),
	// by the name their MountSpec.Source gives.
	Volumes []VolumeSpec `json:"volumes,omitempty"`
	// Ports are every published port of every service.
	Ports []PortMapping `json:"ports,omitempty"`
	// Networks are the pod's networks, in interface order (eth0 first);
	// empty means the operator's default network alone.
	Networks []NetworkSpec `json:"networks,omitempty"`
	// NetworkMode "none": the pod's netns has loopback only, no CNI
	// network. "" otherwise.
	NetworkMode string `json:"networkMode,omitempty"`
	// Warnings are things the user should know (ignored or approximated
	// compose fields), each naming file/service/field.
	Warnings []string `json:"warnings,omitempty"`
}

// ServiceSpec is one compose service, resolved.
type ServiceSpec struct {
	Name  string `json:"name"`
	Image string `json:"image"`
	// Hostname, when set, is the service's own hostname, different from
	// the pod's: the service gets a UTS namespace of its own.
	Hostname string `json:"hostname,omitempty"`
	// File is the compose file that defines the service (the first that
	// mentions it), as errors name it; FieldFiles names, per compose key
	// of the service, the file that set it when that is another file (a
	// later file won the merge). Errors the runtime raises about a field
	// name that file (FileOf).
	File       string            `json:"file,omitempty"`
	FieldFiles map[string]string `json:"fieldFiles,omitempty"`
	// PullPolicy is the compose pull_policy ("" when unset).
	PullPolicy string `json:"pullPolicy,omitempty"`
	// Entrypoint and Command override the image's. nil means "keep the
	// image's"; a non-nil empty slice means "reset to nothing". No
	// omitempty: JSON must keep null and [] apart (the plan is saved).
	Entrypoint []string `json:"entrypoint"`
	Command    []string `json:"command"`
	// Env is the service environment (environment + env_file, resolved),
	// as KEY=VALUE, sorted by key. It is applied on top of the image's.
	Env        []string    `json:"env,omitempty"`
	WorkingDir string      `json:"workingDir,omitempty"`
	User       string      `json:"user,omitempty"`
	Mounts     []MountSpec `json:"mounts,omitempty"`
	// FileMounts are the service's secrets and configs (secrets.go).
	FileMounts []FileMount       `json:"fileMounts,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// StopSignal is the compose stop_signal's canonical name; empty when
	// unset: the image's STOPSIGNAL applies, else SIGTERM.
	StopSignal      string        `json:"stopSignal,omitempty"`
	StopGracePeriod time.Duration `json:"stopGracePeriod"`
	DependsOn       []Dependency  `json:"dependsOn,omitempty"`
	Ports           []PortMapping `json:"ports,omitempty"`
	// Healthcheck nil means "the image's healthcheck, if any"; a
	// Healthcheck with an empty Test means "none, not even the image's"
	// (compose test: NONE or disable: true).
	Healthcheck *Healthcheck `json:"healthcheck,omitempty"`
	// PostStart hooks run in the container, in order, right after its
	// task starts; a failing one fails the service's start. PreStop hooks
	// run before the stop signal, within the stop grace period (hooks.go).
	PostStart []Hook `json:"postStart,omitempty"`
	PreStop   []Hook `json:"preStop,omitempty"`
	// Restart is the compose restart policy: "no", "always",
	// "on-failure[:N]", "unless-stopped" ("" means "no").
	Restart string `json:"restart,omitempty"`
	// Logging bounds the service's log file (compose logging); zero means
	// the defaults.
	Logging LogConfig `json:"logging,omitzero"`
	// Resources.
	MemLimit   int64   `json:"memLimit,omitempty"` // bytes, 0 = none
	CPUs       float64 `json:"cpus,omitempty"`     // 0 = none
	PidsLimit  int64   `json:"pidsLimit,omitempty"`
	Privileged bool    `json:"privileged,omitempty"`
	ReadOnly   bool    `json:"readOnly,omitempty"`
	Tty        bool    `json:"tty,omitempty"`

	// CPUShares is cpu_shares, the service's CPU weight against the
	// pod's other services (cgroup v1 cpu.shares); 0 = the default, 1024.
	CPUShares uint64 `json:"cpuShares,omitempty"`
	// CPUSet is cpuset: the CPUs the service may run on, in the kernel's
	// list format ("0-2,4"); "" = the pod's.
	CPUSet string `json:"cpuset,omitempty"`
	// CPUPeriod and CPUQuota are cpu_period and cpu_quota in µs, the CFS
	// bound when cpus is not set (translate refuses both); 0 = unset,
	// a quota of -1 = none.
	CPUPeriod uint64 `json:"cpuPeriod,omitempty"`
	CPUQuota  int64  `json:"cpuQuota,omitempty"`
	// MemReservation is mem_reservation, the memory soft limit in bytes.
	MemReservation int64 `json:"memReservation,omitempty"`
	// MemSwapLimit is memswap_limit: memory plus swap in bytes, ≥
	// MemLimit; -1 = unlimited swap; 0 = unset.
	MemSwapLimit int64 `json:"memSwapLimit,omitempty"`
	// MemSwappiness is mem_swappiness (0-100); nil = the kernel's.
	MemSwappiness *uint64 `json:"memSwappiness,omitempty"`
	// OOMScoreAdj is oom_score_adj (-1000..1000); 0 = inherited.
	OOMScoreAdj int `json:"oomScoreAdj,omitempty"`
	// GroupAdd are group_add's supplementary groups, names or gids: a
	// name is looked up in the image's /etc/group when the container is
	// created, as docker does.
	GroupAdd []string `json:"groupAdd,omitempty"`
	// Devices are the host devices the service gets (devices:).
	Devices []DeviceSpec `json:"devices,omitempty"`
	// CDIDevices are Container Device Interface names (vendor.com/class=
	// name: devices: entries, gpus:, GPU reservations), resolved against
	// the host's CDI specs when the service starts.
	CDIDevices []string `json:"cdiDevices,omitempty"`

	// Init: compose's `init: true`, a small init as PID 1 that forwards
	// signals to the service's program and reaps zombies.
	Init bool `json:"init,omitempty"`
	// PID is the service's PID namespace (pidns.go): "" its own, PIDPod
	// the pod's (the pause container's, shared by every service that says
	// so), PIDHost the host's, or "service:NAME" that service's.
	PID     string   `json:"pid,omitempty"`
	CapAdd  []string `json:"capAdd,omitempty"`
	CapDrop []string `json:"capDrop,omitempty"`
	// Ulimits are the process rlimits (compose ulimits), by name.
	Ulimits []Ulimit `json:"ulimits,omitempty"`
	// ShmSize is the size of the service's /dev/shm tmpfs in bytes; 0
	// keeps the runtime's default (64MiB).
	ShmSize int64 `json:"shmSize,omitempty"`
	// Sysctls are the service's namespaced sysctls (network and IPC).
	// The pod's namespaces are shared, so the runtime sets them once for
	// the pod, on the pause container that owns them (PodSysctls).
	Sysctls map[string]string `json:"sysctls,omitempty"`
	// NoNewPrivileges is security_opt no-new-privileges[:true|false]; nil
	// when unset: the runtime's default then applies, which is on
	// (containerd's default spec sets no_new_privs, where docker does
	// not), so only false changes anything: setuid programs work again.
	NoNewPrivileges *bool `json:"noNewPrivileges,omitempty"`
	// SeccompUnconfined is security_opt seccomp=unconfined: no seccomp
	// filter instead of the default profile.
	SeccompUnconfined bool `json:"seccompUnconfined,omitempty"`
	// SeccompProfile is security_opt seccomp=FILE: the profile (docker's
	// format, translate/seccomp.go) as read from SeccompProfileFile.
	SeccompProfile     json.RawMessage `json:"seccompProfile,omitempty"`
	SeccompProfileFile string          `json:"seccompProfileFile,omitempty"`
	// AppArmorProfile is security_opt apparmor=NAME: the profile the
	// service runs under ("unconfined": none), on a host with AppArmor.
	AppArmorProfile string `json:"appArmorProfile,omitempty"`
}

// VolumeSpec is a volume of the pod. A named volume outlives the pod, as
// docker's do: `down` keeps it, `down -v` removes it, and the pod started
// again mounts the same data. An anonymous one lives and dies with the pod.
type VolumeSpec struct {
	// Name is the volume's key in the compose file (what mounts name).
	Name string `json:"name"`
	// HostName is the volume's name on the host, shared by every pod that
	// names it: "<project>_<key>" as docker compose names it, or the
	// volume's `name:`. Empty for an anonymous volume (pod-local).
	HostName string `json:"hostName,omitempty"`
	// External volumes must exist before the pod starts and are never
	// removed by compod's down.
	External bool `json:"external,omitempty"`
}

// UnmarshalJSON also reads the records of pods started by an older compod,
// whose volumes were plain names of pod-local directories.
func (v *VolumeSpec) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		*v = VolumeSpec{Name: name}
		return nil
	}
	type plain VolumeSpec
	return json.Unmarshal(b, (*plain)(v))
}

// MountSpec is one volume of a service.
type MountSpec struct {
	// Type is "bind", "volume" or "tmpfs".
	Type string `json:"type"`
	// Source is an absolute host path (bind), a named volume (volume) or
	// empty (tmpfs, anonymous volume).
	Source   string `json:"source,omitempty"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
	// CreateHostPath: a bind source that does not exist is made as a
	// directory (docker's short syntax, or bind.create_host_path); else a
	// missing source fails the launch.
	CreateHostPath bool `json:"createHostPath,omitempty"`
	// NoCopy: an empty volume is not filled with the image's content at
	// the mount point (docker's copy-up, done by default).
	NoCopy bool `json:"noCopy,omitempty"`
	// TmpfsSize is the tmpfs size in bytes, 0 = default.
	TmpfsSize int64 `json:"tmpfsSize,omitempty"`
	// TmpfsMode is the tmpfs root's permission bits; 0 = 1777.
	TmpfsMode uint32 `json:"tmpfsMode,omitempty"`
	// TmpfsOptions are further tmpfs mount options, validated: uid=N,
	// gid=N and the flags noexec, exec, nosuid, suid, nodev, dev. A flag
	// overrides its opposite among the defaults (nosuid, nodev).
	TmpfsOptions []string `json:"tmpfsOptions,omitempty"`
}

// DeviceSpec is one host device a service gets: the device node at
// Target in the container and a cgroup rule that lets the service use it
// with Permissions.
type DeviceSpec struct {
	// Source is the host path: a device node, or a directory whose
	// devices are all given (at the same paths).
	Source string `json:"source"`
	Target string `json:"target"`
	// Permissions are cgroup device access: some of r (read), w (write),
	// m (mknod).
	Permissions string `json:"permissions"`
}

// PortMapping is one published port.
type PortMapping struct {
	Service       string `json:"service"`
	HostIP        string `json:"hostIP,omitempty"` // "" = all addresses
	HostPort      uint16 `json:"hostPort"`         // 0 = not published on the host yet (assigned later)
	ContainerPort uint16 `json:"containerPort"`
	Protocol      string `json:"protocol"` // "tcp" or "udp"
	// Network is the pod network (NetworkSpec.Name) the port is
	// published on; "" means the first of the pod's networks that can
	// publish ports. A Mesos task's network_infos[].port_mappings set it.
	Network string `json:"network,omitempty"`
}

// NetworkSpec is one network of the pod: a compose network, or one a
// Mesos task names. The pod has one interface on it, shared by every
// service.
type NetworkSpec struct {
	// Name is the compose network's key (or the Mesos network's name).
	Name string `json:"name"`
	// CNIName is the CNI network: an external network's name; "" for
	// the operator's default network.
	CNIName string `json:"cniName,omitempty"`
	// Interface is the pod's interface name; "" means eth<N> by order.
	Interface string `json:"interface,omitempty"`
	// IPv4, IPv6 and MAC are static addresses asked for.
	IPv4 string `json:"ipv4,omitempty"`
	IPv6 string `json:"ipv6,omitempty"`
	MAC  string `json:"mac,omitempty"`
	// Aliases resolve, inside the pod, to the pod's address on this
	// network.
	Aliases []string `json:"aliases,omitempty"`
	// Args are passed to the network's plugins as CNI_ARGS.
	Args map[string]string `json:"args,omitempty"`
	// ConfigArgs go into the "args" of every plugin's network config
	// (a Mesos task's NetworkInfo, as Mesos' network/cni isolator
	// passes it).
	ConfigArgs map[string]any `json:"configArgs,omitempty"`
}

// HostGateway as a HostEntry's IP is docker's special value for "the
// host": the address under which the pod reaches the host, known only
// once the pod is on its network (the gateway of its first network; the
// loopback with network_mode host).
const HostGateway = "host-gateway"

// HostEntry is one extra /etc/hosts line.
type HostEntry struct {
	Host string `json:"host"`
	IP   string `json:"ip"`
}

// DNSConfig is the pod's resolver configuration.
type DNSConfig struct {
	Servers []string `json:"servers,omitempty"`
	Search  []string `json:"search,omitempty"`
	Options []string `json:"options,omitempty"`
}

// Dependency is one depends_on entry.
type Dependency struct {
	Service string `json:"service"`
	// Condition is "service_started", "service_healthy" or
	// "service_completed_successfully".
	Condition string `json:"condition"`
	Required  bool   `json:"required"`
}

// Healthcheck is a compose (or image) healthcheck.
type Healthcheck struct {
	// Test is the probe as an argv: CMD form as given, CMD-SHELL form as
	// ["/bin/sh", "-c", cmd].
	Test          []string      `json:"test"`
	Interval      time.Duration `json:"interval"`
	Timeout       time.Duration `json:"timeout"`
	Retries       int           `json:"retries"`
	StartPeriod   time.Duration `json:"startPeriod"`
	StartInterval time.Duration `json:"startInterval"`
}

// Service returns the service with the given name.
func (p *PodPlan) Service(name string) (*ServiceSpec, bool) {
	for i := range p.Services {
		if p.Services[i].Name == name {
			return &p.Services[i], true
		}
	}
	return nil, false
}
