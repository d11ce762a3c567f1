package executor

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func envFunc(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseEnv(t *testing.T) {
	base := map[string]string{
		"MESOS_AGENT_ENDPOINT":                 "127.0.0.1:5051",
		"MESOS_FRAMEWORK_ID":                   "fw-1",
		"MESOS_EXECUTOR_ID":                    "ex-1",
		"MESOS_SANDBOX":                        "/sb",
		"MESOS_DIRECTORY":                      "/host/sb",
		"MESOS_CHECKPOINT":                     "1",
		"MESOS_RECOVERY_TIMEOUT":               "15mins",
		"MESOS_SUBSCRIPTION_BACKOFF_MAX":       "2secs",
		"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "5secs",
		"MESOS_EXECUTOR_AUTHENTICATION_TOKEN":  "tok",
	}
	e, err := ParseEnv(envFunc(base))
	if err != nil {
		t.Fatal(err)
	}
	want := Env{AgentEndpoint: "127.0.0.1:5051", FrameworkID: "fw-1", ExecutorID: "ex-1", Sandbox: "/sb", Directory: "/host/sb",
		Checkpoint: true, RecoveryTimeout: 15 * time.Minute, SubscriptionBackoffMax: 2 * time.Second,
		ShutdownGracePeriod: 5 * time.Second, AuthToken: "tok"}
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("got %+v\nwant %+v", e, want)
	}

	// No checkpointing: the recovery settings are ignored.
	m := clone(base)
	m["MESOS_CHECKPOINT"] = "0"
	m["MESOS_RECOVERY_TIMEOUT"] = "garbage"
	e, err = ParseEnv(envFunc(m))
	if err != nil || e.Checkpoint || e.RecoveryTimeout != 0 {
		t.Fatalf("got %+v, %v", e, err)
	}

	// Defaults for optional durations; sandbox falls back to the directory.
	m = clone(base)
	delete(m, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD")
	delete(m, "MESOS_RECOVERY_TIMEOUT")
	delete(m, "MESOS_SUBSCRIPTION_BACKOFF_MAX")
	delete(m, "MESOS_SANDBOX")
	m["MESOS_CHECKPOINT"] = "true"
	e, err = ParseEnv(envFunc(m))
	if err != nil {
		t.Fatal(err)
	}
	if e.ShutdownGracePeriod != DefaultShutdownGracePeriod || e.RecoveryTimeout != DefaultRecoveryTimeout ||
		e.SubscriptionBackoffMax != DefaultSubscriptionBackoffMax || e.Sandbox != "/host/sb" {
		t.Fatalf("defaults: %+v", e)
	}

	// Every error is reported.
	_, err = ParseEnv(envFunc(map[string]string{
		"MESOS_CHECKPOINT": "yes please", "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "5 fortnights",
	}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, s := range []string{"MESOS_AGENT_ENDPOINT", "MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID", "MESOS_SANDBOX", "MESOS_CHECKPOINT", "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not name %s: %v", s, err)
		}
	}
}

func clone(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestParseFileYAML(t *testing.T) {
	fc, err := ParseFile([]byte(`
containerd:
  address: /run/c.sock
  namespace: mesos
state_dir: /var/lib/compod
cni:
  conf_dir: /etc/cni/net.d
  bin_dirs: [/opt/cni/bin, /usr/lib/cni]
unhealthy_policy: report
plugin_order: [general, secrets]
plugins:
  dir: /etc/compod/plugins
  timeout: 20secs
launch_timeout: 5mins
terminal_ack_timeout: 30s
pull: never
`))
	if err != nil {
		t.Fatal(err)
	}
	if fc.Containerd.Address != "/run/c.sock" || fc.Containerd.Namespace != "mesos" || fc.StateDir != "/var/lib/compod" ||
		fc.CNI.ConfDir != "/etc/cni/net.d" || !reflect.DeepEqual(fc.CNI.BinDirs, []string{"/opt/cni/bin", "/usr/lib/cni"}) ||
		fc.UnhealthyPolicy != "report" || !reflect.DeepEqual(fc.PluginOrder, []string{"general", "secrets"}) ||
		time.Duration(fc.LaunchTimeout) != 5*time.Minute || time.Duration(fc.TerminalAckTimeout) != 30*time.Second || fc.Pull != "never" ||
		fc.Plugins.Dir != "/etc/compod/plugins" || time.Duration(fc.Plugins.Timeout) != 20*time.Second {
		t.Fatalf("got %+v", fc)
	}
}

func TestParseFileJSON(t *testing.T) {
	fc, err := ParseFile([]byte(`{"containerd": {"address": "/c.sock"}, "launch_timeout": "90secs", "plugin_order": ["a"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if fc.Containerd.Address != "/c.sock" || time.Duration(fc.LaunchTimeout) != 90*time.Second || fc.PluginOrder[0] != "a" {
		t.Fatalf("got %+v", fc)
	}
}

func TestParseFileErrors(t *testing.T) {
	for in, want := range map[string]string{
		"contanerd: {}\n":                                     "contanerd",
		"launch_timeout: soon\n":                              "soon",
		"unhealthy_policy: ignore\n":                          "unhealthy_policy",
		"pull: sometimes\n":                                   "pull",
		"cni: {bin_dir: /x}\n":                                "bin_dir",
		"log_level: loud\n":                                   "log_level",
		"plugins: {dir: plugins}\n":                           "plugins.dir",
		"plugins: {timeout: -1s}\n":                           "-1s",
		"plugins: {directory: /x}\n":                          "directory",
		"{\"state_dir\": [1, 2]}":                             "line 1",
		"containerd:\n  adress: /x\n":                         "adress",
		"policy:\n  allow_privilegd: true\n":                  "allow_privilegd",
		"policy:\n  bind_mounts: {allowed_prefixes: [srv]}\n": "not an absolute path",
		"policy:\n  allowed_cap_add:\n":                       "allowed_cap_add has no value",
	} {
		_, err := ParseFile([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseFile(%q) = %v, want an error naming %q", in, err, want)
		}
	}
	if _, err := ParseFile(nil); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("pull: always\n"), 0o644)
	fc, err := LoadFile(p)
	if err != nil || fc.Pull != "always" {
		t.Fatalf("%+v %v", fc, err)
	}
	if _, err := LoadFile(p + ".missing"); err == nil {
		t.Fatal("want an error")
	}
}

func TestParseFilePolicy(t *testing.T) {
	fc, err := ParseFile([]byte(`
policy:
  allow_privileged: true
  bind_mounts:
    allowed_prefixes: [/srv/data]
`))
	if err != nil {
		t.Fatal(err)
	}
	if fc.Policy == nil || !*fc.Policy.AllowPrivileged || (*fc.Policy.BindMounts.AllowedPrefixes)[0] != "/srv/data" || fc.Policy.AllowedCapAdd != nil {
		t.Fatalf("policy: %+v", fc.Policy)
	}
	if fc, err := ParseFile([]byte("pull: never\n")); err != nil || fc.Policy != nil {
		t.Fatalf("no policy: key: %+v, %v", fc.Policy, err)
	}
}
