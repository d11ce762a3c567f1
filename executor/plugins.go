package executor

import (
	"context"
	"sort"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"github.com/compod/compod/plugin"
	"github.com/compod/compod/translate"
)

// The plugins' lifecycle around a task's pod (docs/plugins.md): PreLaunch
// runs in prepare (before the policy); PostLaunch once TASK_RUNNING is
// sent; PreKill before the pod is stopped, whatever stops it; PostKill once
// it is removed, before the terminal update; Shutdown when the executor
// exits. Only a PreLaunch failure fails the task: the other hooks' failures
// are logged (by plugin.Chain) and added to the next status message, and
// the pod is stopped and removed regardless.

// pluginTask is what plugins learn of the task.
func (t *task) pluginTask() plugin.Task {
	env := t.x.o.Env
	return plugin.Task{TaskID: t.id, ExecutorID: env.ExecutorID, FrameworkID: env.FrameworkID,
		AgentID: t.info.AgentID.Value, Sandbox: env.Sandbox, Pod: t.pod}
}

// pluginChain is the task's plugins once their PreLaunch hooks ran; ok is
// false when there are none (nothing to run, nothing to wait for).
func (t *task) pluginChain() (plugin.Chain, *translate.PodPlan, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.plugins, t.plan, len(t.plugins.Plugins) > 0 && t.plan != nil
}

// postLaunch runs the PostLaunch hooks; a KILL cuts them short. A failure
// is reported with a TASK_RUNNING update.
func (t *task) postLaunch(running string) {
	chain, plan, ok := t.pluginChain()
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-t.killC:
			cancel()
		case <-ctx.Done():
		}
	}()
	defer func() {
		cancel()
		<-watched
	}()
	if err := chain.PostLaunch(ctx, plan); err != nil {
		t.send(mesos.TASK_RUNNING, nil, running+"; "+err.Error(), nil)
	}
}

// preKill runs the PreKill hooks, within the stop's deadline when it has
// one; the error is for the terminal status message.
func (t *task) preKill(deadline time.Time) error {
	chain, plan, ok := t.pluginChain()
	if !ok {
		return nil
	}
	ctx := context.Background()
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	return chain.PreKill(ctx, plan)
}

// postKill runs the PostKill hooks; the error is for the terminal status
// message.
func (t *task) postKill() error {
	chain, plan, ok := t.pluginChain()
	if !ok {
		return nil
	}
	return chain.PostKill(context.Background(), plan)
}

// shutdownPlugins runs the Shutdown hooks of every task's plugins as the
// executor exits (the tasks have ended: failures are only logged).
func (x *Executor) shutdownPlugins() {
	x.mu.Lock()
	tasks := make([]*task, 0, len(x.tasks))
	for _, t := range x.tasks {
		tasks = append(tasks, t)
	}
	x.mu.Unlock()
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].id < tasks[j].id })
	for _, t := range tasks {
		if chain, plan, ok := t.pluginChain(); ok {
			_ = chain.Shutdown(context.Background(), plan)
		}
	}
}
