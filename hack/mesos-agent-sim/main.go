// Command mesos-agent-sim runs an executor under the emulated Mesos agent
// of internal/agentsim: it launches the executor with the tasks read from
// JSON TaskInfo files, prints every status update, and reads commands on
// stdin:
//
//	kill <task> [grace]    KILL (with kill_policy grace, e.g. 10s)
//	shutdown               SHUTDOWN (killed after the grace period)
//	restart <dur>          agent restart, down for <dur>
//	ack on|off             send / withhold ACKNOWLEDGED
//	ack-delay <dur>        delay acknowledgements
//	launch <task.json>     LAUNCH another task
//	message <text>         framework MESSAGE
//	status                 subscriptions, pid, sandbox, cgroups
//	quit                   destroy the executor and exit
//
// Example (as root):
//
//	go run ./hack/mesos-agent-sim -executor 'compod executor' -task task.json
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/internal/agentsim"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var tasks, envs multi
	defCg := ""
	if os.Geteuid() == 0 {
		defCg = agentsim.DefaultCgroupRoot
	}
	execCmd := flag.String("executor", "compod executor", "executor command (run with /bin/sh -c)")
	flag.Var(&tasks, "task", "JSON TaskInfo file (repeatable)")
	flag.Var(&envs, "env", "KEY=VALUE for the executor's CommandInfo.environment (repeatable)")
	execID := flag.String("executor-id", "", "executor id (default: compod-<random>)")
	fwID := flag.String("framework-id", "", "framework id (default: random)")
	workDir := flag.String("workdir", "/tmp/mesos-agent-sim", "agent work dir (sandboxes below it)")
	checkpoint := flag.Bool("checkpoint", true, "framework checkpointing")
	recovery := flag.Duration("recovery-timeout", agentsim.DefaultRecoveryTimeout, "MESOS_RECOVERY_TIMEOUT")
	backoff := flag.Duration("backoff-max", agentsim.DefaultSubscriptionBackoffMax, "MESOS_SUBSCRIPTION_BACKOFF_MAX / re-registration window")
	grace := flag.Duration("grace", agentsim.DefaultShutdownGracePeriod, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD")
	heartbeat := flag.Duration("heartbeat", agentsim.DefaultHeartbeatInterval, "HEARTBEAT event interval")
	cgRoot := flag.String("cgroups", defCg, "cgroup mount root; empty disables cgroup placement")
	cfs := flag.Bool("cfs", false, "set a CFS quota from cpus")
	cpus := flag.Float64("cpus", 0.1, "executor cpus")
	mem := flag.Float64("mem", 32, "executor mem (MB)")
	verbose := flag.Bool("v", false, "agent logs on stderr")
	flag.Parse()
	if len(tasks) == 0 {
		fmt.Fprintln(os.Stderr, "at least one -task file is required")
		os.Exit(2)
	}

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	a, err := agentsim.Start(ctx, agentsim.Config{
		WorkDir: *workDir, Checkpoint: *checkpoint,
		RecoveryTimeout: *recovery, SubscriptionBackoffMax: *backoff, ShutdownGracePeriod: *grace,
		HeartbeatInterval: *heartbeat, CgroupRoot: *cgRoot, EnableCFS: *cfs, Logger: log,
	})
	if err != nil {
		fatal(err)
	}
	defer a.Close()

	var infos []mesos.TaskInfo
	for _, f := range tasks {
		t, err := readTask(f)
		if err != nil {
			fatal(err)
		}
		infos = append(infos, t)
	}
	if *execID == "" {
		*execID = "compod-" + fmt.Sprint(time.Now().UnixNano())
	}
	fw := mesos.FrameworkInfo{User: "root", Name: "mesos-agent-sim", Checkpoint: checkpoint}
	if *fwID != "" {
		fw.ID = &mesos.FrameworkID{Value: *fwID}
	}
	shell := true
	cmd := *execCmd
	info := &mesos.ExecutorInfo{
		Type:       mesos.ExecutorInfo_CUSTOM,
		ExecutorID: mesos.ExecutorID{Value: *execID},
		Name:       &cmd,
		Command:    &mesos.CommandInfo{Shell: &shell, Value: &cmd},
		Resources:  []mesos.Resource{scalar("cpus", *cpus), scalar("mem", *mem)},
	}
	if len(envs) > 0 {
		info.Command.Environment = &mesos.Environment{}
		for _, kv := range envs {
			k, v, _ := strings.Cut(kv, "=")
			info.Command.Environment.Variables = append(info.Command.Environment.Variables, mesos.Environment_Variable{Name: k, Value: &v})
		}
	}
	e, err := a.LaunchExecutor(ctx, info, fw, infos...)
	if err != nil {
		fatal(err)
	}
	fmt.Printf("agent %s  executor %s  pid %d\nsandbox %s\n", a.Endpoint(), e.ID(), e.PID(), e.Sandbox())

	go func() {
		for r := range e.Updates() {
			printUpdate(r)
		}
	}()
	go commands(ctx, a, e)

	ex, err := e.Wait(ctx)
	if err != nil {
		fmt.Println("interrupted; destroying the executor")
		_ = a.Close()
		ex, _ = e.Wait(context.Background())
	}
	time.Sleep(100 * time.Millisecond) // let the last updates print
	fmt.Printf("executor exited: code=%d signal=%v forced=%v %s unacked=%d at %s\n",
		ex.Code, ex.Signal, ex.Forced, ex.Reason, len(ex.Unacked), ex.Time.Format(time.RFC3339Nano))
}

func scalar(name string, v float64) mesos.Resource {
	return mesos.Resource{Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: v}}
}

func readTask(path string) (mesos.TaskInfo, error) {
	var t mesos.TaskInfo
	b, err := os.ReadFile(path)
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("%s: %w", path, err)
	}
	if t.TaskID.Value == "" {
		t.TaskID.Value = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)) + "-" + fmt.Sprint(time.Now().UnixNano())
	}
	if t.Name == "" {
		t.Name = t.TaskID.Value
	}
	return t, nil
}

func printUpdate(r agentsim.StatusRecord) {
	s := r.Status
	var flags []string
	if r.Resent {
		flags = append(flags, "resent")
	}
	if r.Duplicate {
		flags = append(flags, "duplicate")
	}
	line := fmt.Sprintf("%s UPDATE task=%s state=%s source=%s", r.Received.Format("15:04:05.000"),
		s.TaskID.Value, s.GetState(), s.GetSource())
	if s.Reason != nil {
		line += " reason=" + s.GetReason().String()
	}
	if s.Healthy != nil {
		line += fmt.Sprintf(" healthy=%v", s.GetHealthy())
	}
	if s.Message != nil {
		line += fmt.Sprintf(" message=%q", s.GetMessage())
	}
	if len(s.UUID) > 0 {
		line += " uuid=" + hex.EncodeToString(s.UUID)
	}
	if s.Labels != nil {
		for _, l := range s.Labels.Labels {
			line += fmt.Sprintf(" label:%s=%s", l.Key, l.GetValue())
		}
	}
	if cs := s.ContainerStatus; cs != nil {
		for _, n := range cs.NetworkInfos {
			for _, ip := range n.IPAddresses {
				line += " ip=" + ip.GetIPAddress()
			}
		}
	}
	if len(flags) > 0 {
		line += " [" + strings.Join(flags, ",") + "]"
	}
	fmt.Println(line)
}

func commands(ctx context.Context, a *agentsim.Agent, e *agentsim.Executor) {
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var err error
		switch f[0] {
		case "kill":
			if len(f) < 2 {
				err = fmt.Errorf("usage: kill <task> [grace]")
				break
			}
			var g *time.Duration
			if len(f) > 2 {
				d, perr := time.ParseDuration(f[2])
				if perr != nil {
					err = perr
					break
				}
				g = &d
			}
			err = e.Kill(ctx, f[1], g)
		case "shutdown":
			err = e.Shutdown(ctx)
		case "restart":
			d := 5 * time.Second
			if len(f) > 1 {
				d, err = time.ParseDuration(f[1])
			}
			if err == nil {
				fmt.Printf("agent down for %v\n", d)
				err = a.Restart(ctx, d)
				fmt.Println("agent back")
			}
		case "ack":
			if len(f) < 2 || (f[1] != "on" && f[1] != "off") {
				err = fmt.Errorf("usage: ack on|off")
				break
			}
			a.WithholdAcks(f[1] == "off")
		case "ack-delay":
			var d time.Duration
			if len(f) > 1 {
				d, err = time.ParseDuration(f[1])
			}
			a.SetAckDelay(d)
		case "launch":
			if len(f) < 2 {
				err = fmt.Errorf("usage: launch <task.json>")
				break
			}
			var t mesos.TaskInfo
			if t, err = readTask(f[1]); err == nil {
				err = e.Launch(ctx, t)
			}
		case "message":
			err = e.Message(ctx, []byte(strings.TrimSpace(strings.TrimPrefix(sc.Text(), "message"))))
		case "status":
			fmt.Printf("pid=%d subscriptions=%d connected=%v sandbox=%s cgroups=%v\n",
				e.PID(), e.Subscriptions(), e.Connected(), e.Sandbox(), e.CgroupPaths())
		case "quit", "exit":
			_ = a.Close()
			return
		default:
			err = fmt.Errorf("unknown command %q (kill, shutdown, restart, ack, ack-delay, launch, message, status, quit)", f[0])
		}
		if err != nil {
			fmt.Println("error:", err)
		}
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "mesos-agent-sim:", err)
	os.Exit(1)
}
