package executor

import (
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

func withLabels(kv ...string) mesos.TaskInfo {
	info := mesos.TaskInfo{TaskID: mesos.TaskID{Value: "t1"}, Labels: &mesos.Labels{}}
	for i := 0; i+1 < len(kv); i += 2 {
		info.Labels.Labels = append(info.Labels.Labels, label(kv[i], kv[i+1]))
	}
	return info
}

func TestParseTaskOverrides(t *testing.T) {
	o, err := ParseTaskOverrides(withLabels(LabelPull, "always", LabelLaunchTimeout, "2mins"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Pull != "always" || o.LaunchTimeout != 2*time.Minute {
		t.Errorf("overrides = %+v", o)
	}
	if o, err := ParseTaskOverrides(withLabels()); err != nil || o != (TaskOverrides{}) {
		t.Errorf("no labels: %+v, %v", o, err)
	}
	for _, bad := range [][]string{{LabelPull, "sometimes"}, {LabelLaunchTimeout, "soon"}, {LabelLaunchTimeout, "0secs"}} {
		_, err := ParseTaskOverrides(withLabels(bad...))
		if err == nil || !strings.Contains(err.Error(), bad[0]) || !strings.Contains(err.Error(), bad[1]) {
			t.Errorf("%v: error %v must name the label and the value", bad, err)
		}
	}
}
