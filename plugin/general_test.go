package plugin

import (
	"context"
	"reflect"
	"testing"

	"github.com/compod/compod/translate"
)

// TestGeneral: every service is labelled with the task's ids and has them
// in its environment (sorted, replacing the compose file's values);
// MESOS_SANDBOX is the sandbox as the service sees it, and absent where
// the sandbox is not mounted.
func TestGeneral(t *testing.T) {
	task := Task{TaskID: "t1", ExecutorID: "e1", FrameworkID: "f1", Sandbox: "/var/lib/mesos/sb", Pod: "p"}
	plan := &translate.PodPlan{Services: []translate.ServiceSpec{
		{Name: "whole", Env: []string{"A=1", "MESOS_TASK_ID=fake", "Z=2"},
			Mounts: []translate.MountSpec{{Type: "bind", Source: "/var/lib/mesos/sb", Target: "/mnt/sandbox"}}},
		{Name: "above", Mounts: []translate.MountSpec{
			{Type: "bind", Source: "/var/lib", Target: "/host-lib"},
			{Type: "bind", Source: "/var/lib/mesos", Target: "/mesos"}}},
		{Name: "inside", Labels: map[string]string{"x": "y"},
			Mounts: []translate.MountSpec{{Type: "bind", Source: "/var/lib/mesos/sb/data", Target: "/data"}}},
	}}
	ps, err := Resolve([]string{General})
	if err != nil {
		t.Fatal(err)
	}
	if err := (Chain{Plugins: ps, Task: task}).PreLaunch(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
	ids := []string{"MESOS_EXECUTOR_ID=e1", "MESOS_FRAMEWORK_ID=f1"}
	for i, want := range [][]string{
		append([]string{"A=1"}, append(ids, "MESOS_SANDBOX=/mnt/sandbox", "MESOS_TASK_ID=t1", "Z=2")...),
		append(append([]string{}, ids...), "MESOS_SANDBOX=/mesos/sb", "MESOS_TASK_ID=t1"),
		append(append([]string{}, ids...), "MESOS_TASK_ID=t1"),
	} {
		s := plan.Services[i]
		if !reflect.DeepEqual(s.Env, want) {
			t.Errorf("service %s env %q, want %q", s.Name, s.Env, want)
		}
		if s.Labels[LabelTaskID] != "t1" || s.Labels[LabelExecutorID] != "e1" || s.Labels[LabelFrameworkID] != "f1" {
			t.Errorf("service %s labels %v", s.Name, s.Labels)
		}
		if _, ok := s.Labels[LabelAgentID]; ok {
			t.Errorf("service %s got an empty agent id label", s.Name)
		}
	}
	if plan.Services[2].Labels["x"] != "y" {
		t.Errorf("the compose file's labels were lost: %v", plan.Services[2].Labels)
	}
}
