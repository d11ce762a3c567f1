package agentsim

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/executor/calls"
	"github.com/mesos/mesos-go/api/v1/lib/executor/config"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpexec"
)

// The test binary doubles as a small mesos-go executor when started with
// AGENTSIM_FAKEEXEC=<mode>:
//
//	finish           LAUNCH → RUNNING, FINISHED; exits once all its updates are acked
//	run              LAUNCH → RUNNING; KILL → KILLED; SHUTDOWN → KILLED for live tasks, wait for acks, exit 0
//	ignore-shutdown  like run, but ignores SHUTDOWN and SIGTERM
//	stubborn         like run, but never re-subscribes after a disconnection and does not exit
//	sleep            does not talk to the agent at all (the test speaks the protocol itself)
//
// It writes its environment to env.txt and /proc/self/cgroup to cgroup.txt
// in its working directory.
func TestMain(m *testing.M) {
	if mode := os.Getenv("AGENTSIM_FAKEEXEC"); mode != "" {
		os.Exit(fakeExecutor(mode))
	}
	os.Exit(m.Run())
}

func fakeExecutor(mode string) int {
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05.000")+" fakeexec: "+format+"\n", args...)
	}
	_ = os.WriteFile("env.txt", []byte(strings.Join(os.Environ(), "\n")+"\n"), 0o644)
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		_ = os.WriteFile("cgroup.txt", b, 0o644)
	}
	cfg, err := config.FromEnv()
	if err != nil {
		logf("config: %v", err)
		return 10
	}
	if mode == "sleep" {
		time.Sleep(time.Hour)
		return 0
	}
	if mode == "ignore-shutdown" {
		signal.Ignore(syscall.SIGTERM)
	}
	mk := func() calls.Sender {
		return httpexec.NewSender(httpcli.New(
			httpcli.Endpoint("http://"+cfg.AgentEndpoint+"/api/v1/executor"),
			httpcli.Codec(codecs.ByMediaType[codecs.MediaTypeProtobuf]),
			httpcli.Do(httpcli.With(httpcli.Timeout(5*time.Second))),
		).Send)
	}
	sub, cl := mk(), mk()
	call := func(c *executor.Call) *executor.Call {
		return c.With(calls.Framework(cfg.FrameworkID), calls.Executor(cfg.ExecutorID))
	}
	var (
		unackedUpdates []executor.Call_Update
		unackedTasks   = map[string]mesos.TaskInfo{}
		active         = map[string]bool{}
		shuttingDown   bool
	)
	post := func(c *executor.Call) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := cl.Send(ctx, calls.NonStreaming(call(c)))
		if resp != nil {
			resp.Close()
		}
		return err
	}
	update := func(task mesos.TaskID, st mesos.TaskState) {
		uuid := make([]byte, 16)
		_, _ = rand.Read(uuid)
		src := mesos.SOURCE_EXECUTOR
		status := mesos.TaskStatus{TaskID: task, State: &st, Source: &src, UUID: uuid,
			ExecutorID: &mesos.ExecutorID{Value: cfg.ExecutorID}}
		unackedUpdates = append(unackedUpdates, executor.Call_Update{Status: status})
		for i := 0; i < 20; i++ {
			err := post(calls.Update(status))
			if err == nil {
				logf("sent %s %s", st, task.Value)
				return
			}
			logf("update %s: %v (retrying)", st, err)
			time.Sleep(250 * time.Millisecond)
		}
	}
	allAcked := func() bool { return len(unackedUpdates) == 0 }

	disconnectedAt := time.Time{}
	backoff := 100 * time.Millisecond
	for {
		tasks := make([]mesos.TaskInfo, 0, len(unackedTasks))
		for _, t := range unackedTasks {
			tasks = append(tasks, t)
		}
		logf("subscribing")
		resp, err := sub.Send(context.Background(), calls.NonStreaming(call(calls.Subscribe(tasks, unackedUpdates))))
		if err != nil {
			logf("subscribe: %v", err)
			if disconnectedAt.IsZero() {
				disconnectedAt = time.Now()
			}
			if !cfg.Checkpoint && time.Since(disconnectedAt) > 5*time.Second {
				logf("subscribe: %v; not checkpointing: exit", err)
				return 3
			}
			if cfg.Checkpoint && time.Since(disconnectedAt) > cfg.RecoveryTimeout {
				logf("subscribe: %v; recovery timeout: exit", err)
				return 4
			}
			time.Sleep(backoff)
			// Retry well within MESOS_SUBSCRIPTION_BACKOFF_MAX: the recovering
			// agent only waits that long for executors to re-subscribe.
			backoff = min(backoff*2, max(cfg.SubscriptionBackoffMax/4, 50*time.Millisecond))
			continue
		}
		logf("subscribed (resent %d updates, %d tasks)", len(unackedUpdates), len(tasks))
		disconnectedAt, backoff = time.Time{}, 100*time.Millisecond
		for {
			var ev executor.Event
			if err := resp.Decode(&ev); err != nil {
				logf("stream: %v", err)
				break
			}
			switch ev.Type {
			case executor.Event_LAUNCH:
				t := ev.Launch.Task
				unackedTasks[t.TaskID.Value] = t
				active[t.TaskID.Value] = true
				update(t.TaskID, mesos.TASK_RUNNING)
				if mode == "finish" {
					update(t.TaskID, mesos.TASK_FINISHED)
					delete(active, t.TaskID.Value)
				}
			case executor.Event_KILL:
				if active[ev.Kill.TaskID.Value] {
					update(ev.Kill.TaskID, mesos.TASK_KILLED)
					delete(active, ev.Kill.TaskID.Value)
				}
			case executor.Event_ACKNOWLEDGED:
				delete(unackedTasks, ev.Acknowledged.TaskID.Value)
				for i, u := range unackedUpdates {
					if string(u.Status.UUID) == string(ev.Acknowledged.UUID) {
						unackedUpdates = append(unackedUpdates[:i], unackedUpdates[i+1:]...)
						break
					}
				}
				if allAcked() && len(active) == 0 && (mode == "finish" || shuttingDown) {
					logf("all updates acknowledged: exit")
					return 0
				}
			case executor.Event_MESSAGE:
				_ = post(calls.Message(append([]byte("echo:"), ev.Message.Data...)))
			case executor.Event_SHUTDOWN:
				if mode == "ignore-shutdown" {
					logf("ignoring SHUTDOWN")
					continue
				}
				shuttingDown = true
				for id := range active {
					update(mesos.TaskID{Value: id}, mesos.TASK_KILLED)
					delete(active, id)
				}
				if allAcked() {
					return 0
				}
			}
		}
		resp.Close()
		if shuttingDown {
			return 0
		}
		if mode == "stubborn" {
			logf("disconnected; staying alive without re-subscribing")
			time.Sleep(time.Hour)
		}
		if !cfg.Checkpoint {
			logf("disconnected and not checkpointing: exit")
			return 3
		}
		disconnectedAt = time.Now()
	}
}

// fakeExecInfo is a CUSTOM ExecutorInfo running this test binary in mode.
func fakeExecInfo(t *testing.T, id, mode string, res ...mesos.Resource) *mesos.ExecutorInfo {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	shell := false
	v := mode
	return &mesos.ExecutorInfo{
		Type:       mesos.ExecutorInfo_CUSTOM,
		ExecutorID: mesos.ExecutorID{Value: id},
		Command: &mesos.CommandInfo{
			Shell:     &shell,
			Value:     &self,
			Arguments: []string{filepath.Base(self), "-test.run=^$"},
			Environment: &mesos.Environment{Variables: []mesos.Environment_Variable{
				{Name: "AGENTSIM_FAKEEXEC", Value: &v},
			}},
		},
		Resources: res,
	}
}
