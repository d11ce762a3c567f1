package plugin

import (
	"context"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compod/compod/translate"
)

// General is dce-go's general plugin, minus what compod does natively
// (host ports, the pod's network, the container names and the
// compod.pod/compod.service labels): every service is labelled with the
// task's ids and gets them in its environment.
const General = "general"

// Labels the general plugin puts on every container.
const (
	LabelTaskID      = "compod.mesos.task_id"
	LabelExecutorID  = "compod.mesos.executor_id"
	LabelFrameworkID = "compod.mesos.framework_id"
	LabelAgentID     = "compod.mesos.agent_id"
)

func init() { Register(general{}) }

type general struct{ Base }

func (general) Name() string { return General }

// PreLaunch labels every service and sets MESOS_TASK_ID,
// MESOS_EXECUTOR_ID, MESOS_FRAMEWORK_ID and, when the service mounts the
// sandbox (or a directory above it), MESOS_SANDBOX as the service sees
// it. A service that does not mount the sandbox gets no MESOS_SANDBOX: the
// executor's path means nothing inside its container. The values replace
// what the compose file set: they are the truth about this task. Empty
// ids (`compod validate` knows none) are left out.
func (general) PreLaunch(_ context.Context, t Task, plan *translate.PodPlan) error {
	labels := map[string]string{LabelTaskID: t.TaskID, LabelExecutorID: t.ExecutorID,
		LabelFrameworkID: t.FrameworkID, LabelAgentID: t.AgentID}
	for i := range plan.Services {
		s := &plan.Services[i]
		for k, v := range labels {
			if v == "" {
				continue
			}
			if s.Labels == nil {
				s.Labels = map[string]string{}
			}
			s.Labels[k] = v
		}
		env := map[string]string{"MESOS_TASK_ID": t.TaskID, "MESOS_EXECUTOR_ID": t.ExecutorID,
			"MESOS_FRAMEWORK_ID": t.FrameworkID, "MESOS_SANDBOX": sandboxInside(t.Sandbox, s.Mounts)}
		s.Env = setEnv(s.Env, env)
	}
	return nil
}

// sandboxInside is where the sandbox appears in a container with mounts:
// the target of the bind of the sandbox or of a directory above it (the
// deepest such bind wins, as it hides the others); "" when none.
func sandboxInside(sandbox string, mounts []translate.MountSpec) string {
	if sandbox == "" {
		return ""
	}
	sandbox = filepath.Clean(sandbox)
	best, bestLen := "", -1
	for _, m := range mounts {
		if m.Type != "bind" || m.Source == "" {
			continue
		}
		rel, err := filepath.Rel(filepath.Clean(m.Source), sandbox)
		if err != nil || !filepath.IsLocal(rel) && rel != "." {
			continue
		}
		if n := len(m.Source); n > bestLen {
			best, bestLen = filepath.Join(m.Target, rel), n
		}
	}
	return best
}

// setEnv sets the non-empty values of vars in env (KEY=VALUE, kept sorted
// by key as translate makes it).
func setEnv(env []string, vars map[string]string) []string {
	out := make([]string, 0, len(env)+len(vars))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if v, ok := vars[k]; ok && v != "" {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range vars {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ki, _, _ := strings.Cut(out[i], "=")
		kj, _, _ := strings.Cut(out[j], "=")
		return ki < kj
	})
	return out
}
