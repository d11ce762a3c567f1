package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/compod/compod/cgroups"
	"github.com/compod/compod/executor"
	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

// cmdExecutor runs compod as a Mesos custom executor (the agent starts it
// as ExecutorInfo.command). Settings: the agent's MESOS_* environment, the
// config file (--config, else $COMPOD_CONFIG, else /etc/compod/executor.yaml
// when it exists) and the global flags; a flag given on the command line
// wins over the config file, which wins over the CONTAINERD_*/COMPOD_*
// environment and the defaults. See docs/mesos.md.
func newExecutorCommand(g *globals) *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:   "executor [flags]",
		Short: "Run as a Mesos executor (started by the Mesos agent; see docs/mesos.md)",
		Long: `Run compod as a Mesos custom executor: the agent starts it as
ExecutorInfo.command. Settings come from the agent's MESOS_* environment, the
config file and the global flags: a flag given on the command line wins over
the config file, which wins over the CONTAINERD_*/COMPOD_* environment and
the defaults. See docs/mesos.md.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runExecutor(cmd.Context(), g, configPath)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", envOr("COMPOD_CONFIG", ""), "config file, YAML or JSON (env COMPOD_CONFIG; default "+executor.DefaultConfigFile+" when it exists)")
	return cmd
}

// runExecutor runs compod as a Mesos custom executor (the agent starts it
// as ExecutorInfo.command). Settings: the agent's MESOS_* environment, the
// config file (--config, else $COMPOD_CONFIG, else /etc/compod/executor.yaml
// when it exists) and the global flags; a flag given on the command line
// wins over the config file, which wins over the CONTAINERD_*/COMPOD_*
// environment and the defaults. See docs/mesos.md.
func runExecutor(ctx context.Context, g *globals, configPath string) error {
	env, err := executor.EnvFromOS()
	if err != nil {
		return err
	}
	fc, err := loadExecutorConfig(configPath)
	if err != nil {
		return err
	}
	applyExecutorConfig(g, fc)

	log, err := g.logger()
	if err != nil {
		return err
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return fmt.Errorf("reading own cgroup: %w", err)
	}
	parent, err := cgroups.MesosParent(string(self))
	if err != nil {
		return err
	}
	cgroupParent := parent
	if cgroupParent == "" {
		cgroupParent = runtime.DefaultCgroupParent
	}
	volumesDir := fc.VolumesDir
	if volumesDir == "" {
		volumesDir = filepath.Join(env.Sandbox, "volumes")
	}
	// The services' log files go straight into the sandbox (MESOS_DIRECTORY:
	// the sandbox as the shim, which writes them, and the host see it),
	// where Mesos users look and where they outlive the pod.
	opts := []runtime.Option{runtime.WithCgroupParent(cgroupParent), runtime.WithVolumesDir(volumesDir), runtime.WithLogDir(env.Directory)}
	if fc.UnhealthyPolicy != "" {
		opts = append(opts, runtime.WithUnhealthyPolicy(fc.UnhealthyPolicy))
	}
	// Without an engine the executor still subscribes, so that every task
	// fails with the reason instead of an agent registration timeout.
	var engine executor.Engine
	eng, engErr := g.engine(ctx, opts...)
	if engErr != nil {
		log.Error("cannot run pods", "err", engErr)
	} else {
		defer eng.Close()
		engine = eng
		// Pods of executors that died without removing them (SIGKILL, the
		// agent destroying their container for a limit) hold host ports,
		// addresses and netns pins the next task on this agent may need.
		rctx, cancel := context.WithTimeout(ctx, reclaimTimeout)
		pods, err := eng.Reclaim(rctx, executor.IsExecutorOwner)
		cancel()
		if len(pods) > 0 {
			log.Info("reclaimed the pods of executors that are gone", "pods", pods)
		}
		if err != nil {
			log.Warn("reclaiming the pods of executors that are gone", "err", err)
		}
	}

	x, err := executor.New(executor.Options{
		Env:                env,
		Engine:             engine,
		EngineErr:          engErr,
		Load:               loadPlan,
		CgroupParent:       parent,
		Pull:               fc.Pull,
		PluginOrder:        fc.PluginOrder,
		PluginDir:          fc.Plugins.Dir,
		PluginTimeout:      time.Duration(fc.Plugins.Timeout),
		Policy:             fc.Policy,
		LaunchTimeout:      time.Duration(fc.LaunchTimeout),
		TerminalAckTimeout: time.Duration(fc.TerminalAckTimeout),
		Log:                log,
	})
	if err != nil {
		return err
	}
	// SIGTERM (the agent, or an operator) stops the pods before exiting.
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	runErr := x.Run(sigCtx)
	// runc made /mesos/<cid> in the hierarchies the agent does not manage;
	// the pods are gone, so remove those (empty) cgroups again, also in the
	// hierarchies only the host sees.
	if eng != nil && parent != "" {
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := eng.RemoveCgroupTree(rctx, parent); err != nil {
			log.Warn("removing leftover cgroups", "err", err)
		}
		cancel()
	}
	return runErr
}

// reclaimTimeout bounds the start-up reclaim, well within the agent's
// executor registration timeout (1 minute by default).
const reclaimTimeout = 30 * time.Second

func loadExecutorConfig(path string) (executor.FileConfig, error) {
	if path == "" {
		if _, err := os.Stat(executor.DefaultConfigFile); err != nil {
			return executor.FileConfig{}, nil
		}
		path = executor.DefaultConfigFile
	}
	return executor.LoadFile(path)
}

// applyExecutorConfig puts the config file's settings into the global
// flags that were not given on the command line.
func applyExecutorConfig(g *globals, fc executor.FileConfig) {
	set := func(flag string, dst *string, v string) {
		if v != "" && !g.given(flag) {
			*dst = v
		}
	}
	set("address", &g.address, fc.Containerd.Address)
	set("namespace", &g.namespace, fc.Containerd.Namespace)
	set("state-dir", &g.stateDir, fc.StateDir)
	set("netns-dir", &g.netnsDir, fc.NetNSDir)
	set("cni-conf-dir", &g.cniConfDir, fc.CNI.ConfDir)
	set("cni-network", &g.cniNetwork, fc.CNI.DefaultNetwork)
	set("cni-bin-dir", &g.cniBinDir, strings.Join(fc.CNI.BinDirs, ":"))
	set("sandbox-image", &g.sandboxImage, fc.SandboxImage)
	set("log-level", &g.logLevel, strings.ToLower(fc.LogLevel))
}

// loadPlan is the executor's compose loader: translate.Load (the executor
// runs the plugins on the plan).
func loadPlan(ctx context.Context, req executor.LoadRequest) (*translate.PodPlan, error) {
	return translate.Load(ctx, translate.LoadOptions{Files: req.Files, ProjectName: req.Project, WorkingDir: req.WorkingDir})
}
