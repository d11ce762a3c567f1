// Package runtime runs a translate.PodPlan on containerd: it ensures images,
// builds the pod sandbox (pinned netns wired by CNI, held by a pause
// container), creates and starts the services in depends_on order, and stops
// and removes all of it again. It knows nothing about Mesos.
package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/compod/compod/cgroups"
	"github.com/compod/compod/cni"
)

// Defaults an operator can override with options.
const (
	DefaultNamespace = "compod"
	DefaultStateDir  = "/var/lib/compod"
	DefaultNetNSDir  = "/run/netns"
	// DefaultCgroupParent is where standalone pods live; the Mesos executor
	// passes its own container's cgroup instead.
	DefaultCgroupParent = "/compod"
)

// Engine runs pods on one containerd namespace.
type Engine struct {
	client    *client.Client
	namespace string
	stateDir  string
	// volumesDir is where named volumes live; "" = <stateDir>/volumes.
	volumesDir string
	netnsDir   string
	// instance qualifies every host-wide name of this engine's pods
	// (names.go).
	instance string
	// portRegistry is the host-wide registry of published host ports
	// (portregistry.go).
	portRegistry string
	// cniConfig is the network new pods are attached to; a pod's own
	// record says which one it was attached to (PodRecord.CNI).
	cniConfig    cni.Config
	sandboxImage string
	// selfBinary is compod's own binary, which the shim runs as the host
	// network helper (and as the log writer when the small one cannot
	// run).
	selfBinary     string
	logWriter      string
	logWriterOnce  sync.Once
	logDirOverride string
	cgroupParent   string
	log            *slog.Logger
	// unhealthyPolicy says what an unhealthy service does to its pod.
	unhealthyPolicy string
	// hostHelperMode says whether the host side of pod networks is done
	// by the host helper (hosthelper.go); hostHelper is the decision.
	hostHelperMode string
	hostHelper     bool
	// cgroupsVisible: this process sees cgroup hierarchies (it may not, in
	// a mount namespace whose /sys was mounted anew).
	cgroupsVisible bool

	// copyUpMu serialises filling volumes from images (copyup.go).
	copyUpMu sync.Mutex

	supMu sync.Mutex
	sups  map[string]*supervisor // pods this process supervises

	ownMu sync.Mutex
	owned map[string]*os.File // owner locks this process holds (owner.go)

	// containerdErr is why an engine of OpenStateDir has no client
	// (stateview.go); nil for an engine of New.
	containerdErr error
}

// Option configures an Engine.
type Option func(*Engine)

// WithNamespace sets the containerd namespace pods live in.
func WithNamespace(ns string) Option { return func(e *Engine) { e.namespace = ns } }

// WithStateDir sets the directory for pod records, logs, volumes and
// compod's default CNI network.
func WithStateDir(dir string) Option { return func(e *Engine) { e.stateDir = dir } }

// WithNetNSDir sets where pod network namespaces are pinned.
func WithNetNSDir(dir string) Option { return func(e *Engine) { e.netnsDir = dir } }

// WithPortRegistryDir sets the directory of the host-wide registry of
// published host ports (portregistry.go). Every compod instance on a host
// must use the same one for ports to be kept apart: the default is
// DefaultPortRegistryDir, or $COMPOD_PORT_REGISTRY when set. Tests use
// their own.
func WithPortRegistryDir(dir string) Option { return func(e *Engine) { e.portRegistry = dir } }

// WithCNI sets the CNI configuration (conf dir, bin dirs).
func WithCNI(cfg cni.Config) Option { return func(e *Engine) { e.cniConfig = cfg } }

// WithSandboxImage replaces the built-in pause image.
func WithSandboxImage(ref string) Option { return func(e *Engine) { e.sandboxImage = ref } }

// WithCompodBinary names compod's binary, which the containerd shim runs
// as the host network helper (hosthelper.go). Default: this executable.
func WithCompodBinary(path string) Option { return func(e *Engine) { e.selfBinary = path } }

// WithCgroupParent sets the cgroup under which every pod gets its own
// cgroup (<parent>/<pod>).
func WithCgroupParent(path string) Option { return func(e *Engine) { e.cgroupParent = path } }

// WithUnhealthyPolicy sets what an unhealthy service does: UnhealthyKill
// (the default: the pod fails) or UnhealthyReport (only reported).
func WithUnhealthyPolicy(p string) Option { return func(e *Engine) { e.unhealthyPolicy = p } }

// Host helper modes (WithHostHelper).
const (
	// HostHelperAuto uses the host helper when compod does not share
	// containerd's mount and network namespaces (the default).
	HostHelperAuto   = "auto"
	HostHelperAlways = "always"
	HostHelperNever  = "never"
)

// WithHostHelper sets when the host side of pod networks (netns pin, CNI,
// host-port checks) is done by a containerd task in the host's namespaces
// rather than by this process: HostHelperAuto, HostHelperAlways or
// HostHelperNever.
func WithHostHelper(mode string) Option { return func(e *Engine) { e.hostHelperMode = mode } }

// WithLogger sets the structured logger.
func WithLogger(l *slog.Logger) Option { return func(e *Engine) { e.log = l } }

// New connects to containerd at address. The CNI network is loaded, and
// its plugins looked for, when a pod is started (Up), not here: `ps`,
// `logs` and `down` work without the plugins.
func New(ctx context.Context, address string, opts ...Option) (*Engine, error) {
	e, err := configure(opts)
	if err != nil {
		return nil, err
	}
	if err := mkdirMode(e.podsDir(), modePodDir); err != nil {
		return nil, fmt.Errorf("creating state dir: %w", err)
	}
	c, err := dial(ctx, address)
	if err != nil {
		return nil, err
	}
	e.hostHelper = e.hostHelperMode == HostHelperAlways
	if e.hostHelperMode == HostHelperAuto {
		shared, err := SharesContainerdNamespaces(address)
		if err != nil {
			c.Close()
			return nil, err
		}
		e.hostHelper = !shared
	}
	if hs, err := cgroups.Hierarchies(); err == nil && len(hs) > 0 {
		e.cgroupsVisible = true
	}
	if e.hostHelper {
		e.log.Info("compod does not share containerd's mount and network namespaces: pod networks are set up by the host helper")
	}
	e.client = c
	return e, nil
}

// configure applies the defaults and opts and checks them; it touches
// neither the host nor containerd.
func configure(opts []Option) (*Engine, error) {
	e := &Engine{
		namespace:    DefaultNamespace,
		stateDir:     DefaultStateDir,
		netnsDir:     DefaultNetNSDir,
		cgroupParent: DefaultCgroupParent,
		portRegistry: DefaultPortRegistryDir,
		log:          slog.Default(),

		unhealthyPolicy: UnhealthyKill,
		hostHelperMode:  HostHelperAuto,
		owned:           map[string]*os.File{},
	}
	if dir := os.Getenv(PortRegistryEnv); dir != "" {
		e.portRegistry = dir
	}
	for _, o := range opts {
		o(e)
	}
	// The state dir is named in host-wide places (the port registry, the
	// instance label of containers): absolute, it means the same to every
	// process.
	if abs, err := filepath.Abs(e.stateDir); err == nil {
		e.stateDir = abs
	}
	e.instance = InstanceID(e.stateDir, e.namespace)
	if e.unhealthyPolicy != UnhealthyKill && e.unhealthyPolicy != UnhealthyReport {
		return nil, fmt.Errorf("unhealthy policy %q: want %q or %q", e.unhealthyPolicy, UnhealthyKill, UnhealthyReport)
	}
	switch e.hostHelperMode {
	case HostHelperAuto, HostHelperAlways, HostHelperNever:
	default:
		return nil, fmt.Errorf("host helper mode %q: want %q, %q or %q", e.hostHelperMode, HostHelperAuto, HostHelperAlways, HostHelperNever)
	}
	if e.selfBinary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding compod's own binary for the host helper: %w", err)
		}
		e.selfBinary = exe
	}
	if e.cniConfig.StateDir == "" {
		e.cniConfig.StateDir = e.stateDir
	}
	return e, nil
}

// dial connects to containerd at address and checks that it answers.
func dial(ctx context.Context, address string) (*client.Client, error) {
	if _, err := os.Stat(strings.TrimPrefix(address, "unix://")); err != nil {
		return nil, fmt.Errorf("connecting to containerd: no socket at %s (is containerd running? set --address or CONTAINERD_ADDRESS)", address)
	}
	c, err := client.New(address, client.WithTimeout(10*time.Second))
	if err == nil {
		// The client connects lazily; ask once, so an unreachable
		// containerd is one clear error rather than one per image.
		vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = c.Version(vctx)
		cancel()
		if err != nil {
			c.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to containerd at %s: %w (is containerd running? set --address or CONTAINERD_ADDRESS)", address, err)
	}
	return c, nil
}

// Close stops supervising pods (they keep running), lets go of the pods it
// owns, and releases the containerd connection.
func (e *Engine) Close() error {
	e.supMu.Lock()
	pods := make([]string, 0, len(e.sups))
	for p := range e.sups {
		pods = append(pods, p)
	}
	e.supMu.Unlock()
	for _, p := range pods {
		e.unsupervise(p)
	}
	// Pods this process owns are no longer held: Reclaim may take them.
	e.ownMu.Lock()
	for p, f := range e.owned {
		f.Close()
		delete(e.owned, p)
	}
	e.ownMu.Unlock()
	if e.client == nil { // a state-dir view (OpenStateDir)
		return nil
	}
	return e.client.Close()
}

// Client exposes the containerd client (for the event monitor and tests).
func (e *Engine) Client() *client.Client { return e.client }

// Namespace is the containerd namespace of this engine's pods.
func (e *Engine) Namespace() string { return e.namespace }

func (e *Engine) withNS(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, e.namespace)
}

func (e *Engine) podsDir() string { return filepath.Join(e.stateDir, "pods") }

func (e *Engine) podDir(pod string) string { return filepath.Join(e.podsDir(), pod) }

// Release stops this process's supervision of the pod (the pod keeps
// running), so that another process can take it over.
func (e *Engine) Release(pod string) { e.unsupervise(pod) }
