package mesosframework

import (
	"path/filepath"
	"sort"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// LabelFileName is the TaskInfo label compod reads the compose files from
// (dce-go's name; see executor.LabelFileName).
const LabelFileName = "fileName"

// TaskSpec describes one compod task.
type TaskSpec struct {
	TaskID string
	// Compod is the compod binary on the agent; the executor runs
	// `compod executor` (shell false).
	Compod string
	// ComposeFile is the absolute path of a compose file on the agent
	// host; the agent's fetcher copies it into the sandbox (a plain
	// absolute path URI, not extracted) and the task's fileName label
	// names its base name.
	ComposeFile string
	// Env is added to the executor's environment (the agent's
	// --executor_environment_variables come first).
	Env map[string]string
	// Labels are extra TaskInfo labels.
	Labels map[string]string
	Request
}

// ExecutorID is the executor id of a task: one compod executor per task.
func ExecutorID(taskID string) string { return "compod-" + taskID }

// BuildTask makes the TaskInfo that launches spec on the matched agent with
// compod as its CUSTOM executor.
func BuildTask(spec TaskSpec, frameworkID string, m Match) mesos.TaskInfo {
	shell := false
	value := spec.Compod
	extract, cache, executable := false, false, false
	out := filepath.Base(spec.ComposeFile)
	cmd := &mesos.CommandInfo{
		Value:     &value,
		Shell:     &shell,
		Arguments: []string{"compod", "executor"},
		URIs: []mesos.CommandInfo_URI{{
			Value:      spec.ComposeFile,
			Extract:    &extract,
			Cache:      &cache,
			Executable: &executable,
			OutputFile: &out,
		}},
	}
	if len(spec.Env) > 0 {
		cmd.Environment = &mesos.Environment{}
		for _, k := range sortedKeys(spec.Env) {
			v := spec.Env[k]
			cmd.Environment.Variables = append(cmd.Environment.Variables, mesos.Environment_Variable{Name: k, Value: &v})
		}
	}
	name := "compod"
	exec := &mesos.ExecutorInfo{
		Type:       mesos.ExecutorInfo_CUSTOM,
		ExecutorID: mesos.ExecutorID{Value: ExecutorID(spec.TaskID)},
		Name:       &name,
		Command:    cmd,
		Resources:  ExecutorResources(spec.Request),
	}
	if frameworkID != "" {
		exec.FrameworkID = &mesos.FrameworkID{Value: frameworkID}
	}
	labels := map[string]string{LabelFileName: out}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	l := &mesos.Labels{}
	for _, k := range sortedKeys(labels) {
		v := labels[k]
		l.Labels = append(l.Labels, mesos.Label{Key: k, Value: &v})
	}
	return mesos.TaskInfo{
		Name:      spec.TaskID,
		TaskID:    mesos.TaskID{Value: spec.TaskID},
		AgentID:   m.AgentID,
		Resources: TaskResources(spec.Request, m.Ports),
		Executor:  exec,
		Labels:    l,
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
