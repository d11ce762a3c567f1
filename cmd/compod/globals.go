package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/compod/compod/cni"
	"github.com/compod/compod/runtime"
)

// globals are the flags every command takes (persistent flags of the root
// command: before or after the command name), with environment fallbacks.
type globals struct {
	address, namespace, stateDir, cniConfDir, cniBinDir, cniNetwork, netnsDir, sandboxImage, hostHelper, logLevel string
	// flags holds exactly the global flags: argv renders them, and the
	// executor asks it which were given.
	flags *pflag.FlagSet
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// newGlobals defines the global flags; their defaults are the environment
// variables when set, else compod's defaults.
func newGlobals() *globals {
	g := &globals{flags: pflag.NewFlagSet("global", pflag.ContinueOnError)}
	fs := g.flags
	fs.StringVar(&g.address, "address", envOr("CONTAINERD_ADDRESS", "/run/containerd/containerd.sock"), "containerd socket (env CONTAINERD_ADDRESS)")
	fs.StringVar(&g.namespace, "namespace", envOr("CONTAINERD_NAMESPACE", runtime.DefaultNamespace), "containerd namespace (env CONTAINERD_NAMESPACE)")
	fs.StringVar(&g.stateDir, "state-dir", envOr("COMPOD_STATE_DIR", runtime.DefaultStateDir), "pod records, logs and volumes (env COMPOD_STATE_DIR)")
	fs.StringVar(&g.cniConfDir, "cni-conf-dir", envOr("COMPOD_CNI_CONF_DIR", ""), "CNI conf dir; unset: compod's own bridge network (env COMPOD_CNI_CONF_DIR)")
	fs.StringVar(&g.cniNetwork, "cni-network", envOr("COMPOD_CNI_NETWORK", ""), "default CNI network of the conf dir; unset: its only network, or compod's own bridge when it has none (env COMPOD_CNI_NETWORK)")
	fs.StringVar(&g.cniBinDir, "cni-bin-dir", envOr("COMPOD_CNI_BIN_DIR", "/opt/cni/bin:/usr/lib/cni"), "CNI plugin dirs, colon separated (env COMPOD_CNI_BIN_DIR)")
	fs.StringVar(&g.netnsDir, "netns-dir", envOr("COMPOD_NETNS_DIR", runtime.DefaultNetNSDir), "where pod network namespaces are pinned (env COMPOD_NETNS_DIR)")
	fs.StringVar(&g.sandboxImage, "sandbox-image", envOr("COMPOD_SANDBOX_IMAGE", ""), "pause image; unset: compod's built-in one (env COMPOD_SANDBOX_IMAGE)")
	fs.StringVar(&g.hostHelper, "host-helper", envOr("COMPOD_HOST_HELPER", runtime.HostHelperAuto), "who sets up pod networks in the host's namespaces: auto (compod itself when it shares containerd's mount and network namespaces, else a helper the containerd shim starts), always, never (env COMPOD_HOST_HELPER)")
	fs.StringVar(&g.logLevel, "log-level", envOr("COMPOD_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env COMPOD_LOG_LEVEL)")
	return g
}

// argv renders the effective global flags as arguments, so a compod this
// one starts (up -d's supervisor) runs with exactly its settings, whatever
// that process's environment.
func (g *globals) argv() []string {
	var out []string
	g.flags.VisitAll(func(f *pflag.Flag) { out = append(out, "--"+f.Name+"="+f.Value.String()) })
	return out
}

// given says whether a global flag was given on the command line.
func (g *globals) given(name string) bool { return g.flags.Changed(name) }

func (g *globals) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})), nil
}

// options are the engine options of the global settings; extra ones (the
// executor's cgroup parent, ...) come last and win.
func (g *globals) options(extra ...runtime.Option) ([]runtime.Option, error) {
	log, err := g.logger()
	if err != nil {
		return nil, err
	}
	stateDir, err := filepath.Abs(g.stateDir)
	if err != nil {
		return nil, err
	}
	return append([]runtime.Option{
		runtime.WithNamespace(g.namespace),
		runtime.WithStateDir(stateDir),
		runtime.WithNetNSDir(g.netnsDir),
		runtime.WithSandboxImage(g.sandboxImage),
		runtime.WithHostHelper(g.hostHelper),
		runtime.WithLogger(log),
		runtime.WithCNI(g.cniConfig(stateDir)),
	}, extra...), nil
}

// engine connects to containerd with the global settings, to change pods.
func (g *globals) engine(ctx context.Context, extra ...runtime.Option) (*runtime.Engine, error) {
	opts, err := g.options(extra...)
	if err != nil {
		return nil, err
	}
	return runtime.New(ctx, g.address, opts...)
}

// stateView opens the state dir to read pods (ps, logs), writing nothing;
// with askContainerd it also asks containerd, when it can be reached, for
// the pods' live states.
func (g *globals) stateView(ctx context.Context, askContainerd bool) (*runtime.Engine, error) {
	opts, err := g.options()
	if err != nil {
		return nil, err
	}
	address := ""
	if askContainerd {
		address = g.address
	}
	return runtime.OpenStateDir(ctx, address, opts...)
}

// cniConfig is the CNI configuration the flags give.
func (g *globals) cniConfig(stateDir string) cni.Config {
	return cni.Config{ConfDir: g.cniConfDir, DefaultNetwork: g.cniNetwork, BinDirs: strings.Split(g.cniBinDir, ":"), StateDir: stateDir}
}
