package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/compod/compod/cni"
	"github.com/compod/compod/runtime"
)

// globals are the flags every command takes, with environment fallbacks.
type globals struct {
	address, namespace, stateDir, cniConfDir, cniBinDir, netnsDir, sandboxImage, hostHelper, logLevel string
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.address, "address", envOr("CONTAINERD_ADDRESS", "/run/containerd/containerd.sock"), "containerd socket")
	fs.StringVar(&g.namespace, "namespace", envOr("CONTAINERD_NAMESPACE", runtime.DefaultNamespace), "containerd namespace")
	fs.StringVar(&g.stateDir, "state-dir", envOr("COMPOD_STATE_DIR", runtime.DefaultStateDir), "state directory")
	fs.StringVar(&g.cniConfDir, "cni-conf-dir", envOr("COMPOD_CNI_CONF_DIR", ""), "CNI conf dir (default: compod's own bridge network)")
	fs.StringVar(&g.cniBinDir, "cni-bin-dir", envOr("COMPOD_CNI_BIN_DIR", "/opt/cni/bin:/usr/lib/cni"), "CNI plugin dirs, colon separated")
	fs.StringVar(&g.netnsDir, "netns-dir", envOr("COMPOD_NETNS_DIR", runtime.DefaultNetNSDir), "where pod network namespaces are pinned")
	fs.StringVar(&g.sandboxImage, "sandbox-image", envOr("COMPOD_SANDBOX_IMAGE", ""), "pause image (default: compod's built-in one)")
	fs.StringVar(&g.hostHelper, "host-helper", envOr("COMPOD_HOST_HELPER", runtime.HostHelperAuto), "who sets up pod networks in the host's namespaces: auto (compod itself when it shares containerd's mount and network namespaces, else a helper the containerd shim starts), always, never")
	fs.StringVar(&g.logLevel, "log-level", envOr("COMPOD_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
}

func (g *globals) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})), nil
}

// engine connects to containerd with the global settings; extra options
// (the executor's cgroup parent, ...) come last and win.
func (g *globals) engine(ctx context.Context, extra ...runtime.Option) (*runtime.Engine, error) {
	log, err := g.logger()
	if err != nil {
		return nil, err
	}
	stateDir, err := filepath.Abs(g.stateDir)
	if err != nil {
		return nil, err
	}
	opts := append([]runtime.Option{
		runtime.WithNamespace(g.namespace),
		runtime.WithStateDir(stateDir),
		runtime.WithNetNSDir(g.netnsDir),
		runtime.WithSandboxImage(g.sandboxImage),
		runtime.WithHostHelper(g.hostHelper),
		runtime.WithLogger(log),
		runtime.WithCNI(cni.Config{ConfDir: g.cniConfDir, BinDirs: strings.Split(g.cniBinDir, ":"), StateDir: stateDir}),
	}, extra...)
	return runtime.New(ctx, g.address, opts...)
}

// newFlags makes a command's flag set with the global flags on it, so they
// can be given after the command name.
func newFlags(name string, g *globals) *flag.FlagSet {
	fs := flag.NewFlagSet("compod "+name, flag.ContinueOnError)
	g.register(fs)
	return fs
}

// stringList is a repeatable string flag (-f a -f b).
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// parseInterleaved parses flags that may come after positional arguments
// (`compod logs web -f`), returning the positionals.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
