package executor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/compod/compod/translate"
)

// Defaults for settings the agent normally provides (Mesos' own defaults)
// and for compod's config file.
const (
	DefaultShutdownGracePeriod    = 5 * time.Second  // --executor_shutdown_grace_period
	DefaultRecoveryTimeout        = 15 * time.Minute // --recovery_timeout
	DefaultSubscriptionBackoffMax = 2 * time.Second  // --executor_reregistration_timeout
	DefaultTerminalAckTimeout     = 10 * time.Second
	DefaultConfigFile             = "/etc/compod/executor.yaml"
)

// Env is what the Mesos agent tells the executor in its environment.
type Env struct {
	AgentEndpoint string // MESOS_AGENT_ENDPOINT, host:port
	FrameworkID   string // MESOS_FRAMEWORK_ID
	ExecutorID    string // MESOS_EXECUTOR_ID
	// Sandbox is MESOS_SANDBOX (the sandbox as the executor sees it);
	// Directory is MESOS_DIRECTORY (the sandbox on the host).
	Sandbox, Directory string
	// Checkpoint is MESOS_CHECKPOINT: the framework checkpoints, so the
	// executor outlives an agent restart and resubscribes.
	Checkpoint             bool
	RecoveryTimeout        time.Duration // MESOS_RECOVERY_TIMEOUT
	SubscriptionBackoffMax time.Duration // MESOS_SUBSCRIPTION_BACKOFF_MAX
	ShutdownGracePeriod    time.Duration // MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD
	AuthToken              string        // MESOS_EXECUTOR_AUTHENTICATION_TOKEN
}

// EnvFromOS reads the executor environment of this process.
func EnvFromOS() (Env, error) { return ParseEnv(os.Getenv) }

// ParseEnv reads the executor environment through getenv. Every problem is
// reported, not only the first.
func ParseEnv(getenv func(string) string) (Env, error) {
	var errs []error
	required := func(name string) string {
		v := getenv(name)
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is not set (compod executor must be started by a Mesos agent)", name))
		}
		return v
	}
	duration := func(name string, def time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			return def
		}
		return d
	}
	e := Env{
		AgentEndpoint: required("MESOS_AGENT_ENDPOINT"),
		FrameworkID:   required("MESOS_FRAMEWORK_ID"),
		ExecutorID:    required("MESOS_EXECUTOR_ID"),
		Directory:     getenv("MESOS_DIRECTORY"),
		Sandbox:       getenv("MESOS_SANDBOX"),
		AuthToken:     getenv("MESOS_EXECUTOR_AUTHENTICATION_TOKEN"),

		ShutdownGracePeriod: duration("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", DefaultShutdownGracePeriod),
	}
	if e.Sandbox == "" {
		e.Sandbox = e.Directory
	}
	if e.Sandbox == "" {
		errs = append(errs, errors.New("MESOS_SANDBOX and MESOS_DIRECTORY are not set (compod executor must be started by a Mesos agent)"))
	}
	if e.Directory == "" {
		e.Directory = e.Sandbox
	}
	if v := getenv("MESOS_CHECKPOINT"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("MESOS_CHECKPOINT=%q: want 1/0 or true/false", v))
		}
		e.Checkpoint = b
	}
	if e.Checkpoint {
		e.RecoveryTimeout = duration("MESOS_RECOVERY_TIMEOUT", DefaultRecoveryTimeout)
		e.SubscriptionBackoffMax = duration("MESOS_SUBSCRIPTION_BACKOFF_MAX", DefaultSubscriptionBackoffMax)
	}
	if e.AgentEndpoint != "" && strings.Contains(e.AgentEndpoint, "/") {
		errs = append(errs, fmt.Errorf("MESOS_AGENT_ENDPOINT=%q: want host:port", e.AgentEndpoint))
	}
	if len(errs) > 0 {
		return Env{}, fmt.Errorf("executor environment: %w", errors.Join(errs...))
	}
	return e, nil
}

// FileConfig is compod's executor config file (YAML, or JSON, which is
// YAML too). Every field is optional; see docs/mesos.md.
type FileConfig struct {
	Containerd struct {
		// Address is containerd's socket.
		Address string `yaml:"address" json:"address"`
		// Namespace is the containerd namespace pods live in.
		Namespace string `yaml:"namespace" json:"namespace"`
	} `yaml:"containerd" json:"containerd"`
	// StateDir holds pod records, logs and compod's CNI state. It must be
	// shared by every executor on the host (not the sandbox): the default
	// network's IP allocations live there.
	StateDir string `yaml:"state_dir" json:"state_dir"`
	// NetNSDir is where pod network namespaces are pinned.
	NetNSDir string `yaml:"netns_dir" json:"netns_dir"`
	CNI      struct {
		// ConfDir holds the CNI network config; empty means compod's own
		// bridge network.
		ConfDir string `yaml:"conf_dir" json:"conf_dir"`
		// DefaultNetwork names the conf dir's network for tasks that
		// name none.
		DefaultNetwork string `yaml:"default_network" json:"default_network"`
		// BinDirs are searched for CNI plugins.
		BinDirs []string `yaml:"bin_dirs" json:"bin_dirs"`
	} `yaml:"cni" json:"cni"`
	// SandboxImage replaces the built-in pause image.
	SandboxImage string `yaml:"sandbox_image" json:"sandbox_image"`
	// VolumesDir is where pods' named volumes live; empty means the task
	// sandbox's volumes/ (the data lives as long as Mesos keeps the
	// sandbox). A directory shared by tasks keeps data across tasks.
	VolumesDir string `yaml:"volumes_dir" json:"volumes_dir"`
	// UnhealthyPolicy is what an unhealthy service does to its pod: "kill"
	// (default: TASK_FAILED) or "report" (TASK_RUNNING with healthy=false).
	UnhealthyPolicy string `yaml:"unhealthy_policy" json:"unhealthy_policy"`
	// PluginOrder is the default order of the launch-time plugins (the
	// task label `pluginorder` overrides it).
	PluginOrder []string `yaml:"plugin_order" json:"plugin_order"`
	// Plugins configures the out-of-process plugins (docs/plugins.md).
	Plugins struct {
		// Dir holds them: the executable <dir>/<name> is the plugin
		// <name> of plugin_order.
		Dir string `yaml:"dir" json:"dir"`
		// Timeout bounds each hook call of each plugin (default 10s).
		Timeout Duration `yaml:"timeout" json:"timeout"`
	} `yaml:"plugins" json:"plugins"`
	// LaunchTimeout bounds the launch (images, sandbox, every start);
	// zero means no bound.
	LaunchTimeout Duration `yaml:"launch_timeout" json:"launch_timeout"`
	// Pull is the image pull policy: missing (default), always or never.
	Pull string `yaml:"pull" json:"pull"`
	// TerminalAckTimeout is how long the executor waits for the agent to
	// acknowledge the last terminal update before it exits anyway.
	TerminalAckTimeout Duration `yaml:"terminal_ack_timeout" json:"terminal_ack_timeout"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level" json:"log_level"`
	// Policy loosens (or tightens) the admission policy every pod is
	// judged by; nil leaves translate.DefaultExecutorPolicy as it is. See
	// docs/policy.md.
	Policy *translate.Policy `yaml:"policy" json:"policy"`
}

// LoadFile reads a config file. Unknown keys are errors (a typo must not
// silently fall back to a default).
func LoadFile(path string) (FileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return FileConfig{}, fmt.Errorf("reading config file: %w", err)
	}
	fc, err := ParseFile(data)
	if err != nil {
		return FileConfig{}, fmt.Errorf("config file %s: %w", path, err)
	}
	return fc, nil
}

// ParseFile parses config file content (YAML or JSON).
func ParseFile(data []byte) (FileConfig, error) {
	var fc FileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		return FileConfig{}, err
	}
	switch fc.UnhealthyPolicy {
	case "", "kill", "report":
	default:
		return FileConfig{}, fmt.Errorf("unhealthy_policy %q: want kill or report", fc.UnhealthyPolicy)
	}
	switch fc.Pull {
	case "", "missing", "always", "never":
	default:
		return FileConfig{}, fmt.Errorf("pull %q: want missing, always or never", fc.Pull)
	}
	if fc.Plugins.Dir != "" && !filepath.IsAbs(fc.Plugins.Dir) {
		return FileConfig{}, fmt.Errorf("plugins.dir %q: want an absolute path", fc.Plugins.Dir)
	}
	if fc.Plugins.Timeout < 0 {
		return FileConfig{}, fmt.Errorf("plugins.timeout %v: want a positive duration", time.Duration(fc.Plugins.Timeout))
	}
	switch strings.ToLower(fc.LogLevel) {
	case "", "debug", "info", "warn", "error":
	default:
		return FileConfig{}, fmt.Errorf("log_level %q: want debug, info, warn or error", fc.LogLevel)
	}
	return fc, nil
}
