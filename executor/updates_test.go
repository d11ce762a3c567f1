package executor

import (
	"bytes"
	"testing"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
)

func update(task string, state mesos.TaskState) executor.Call_Update {
	return executor.Call_Update{Status: mesos.TaskStatus{TaskID: mesos.TaskID{Value: task}, State: &state, UUID: newUUID()}}
}

func TestUpdateStore(t *testing.T) {
	s := newUpdateStore()
	s.addTask(mesos.TaskInfo{TaskID: mesos.TaskID{Value: "t1"}})
	s.addTask(mesos.TaskInfo{TaskID: mesos.TaskID{Value: "t2"}})
	u1 := update("t1", mesos.TASK_STARTING)
	u2 := update("t1", mesos.TASK_RUNNING)
	u3 := update("t2", mesos.TASK_STARTING)
	for _, u := range []executor.Call_Update{u1, u2, u3} {
		s.add(u)
	}
	ups, tasks := s.pending()
	if len(ups) != 3 || len(tasks) != 2 {
		t.Fatalf("pending: %d updates, %d tasks", len(ups), len(tasks))
	}
	if bytes.Equal(u1.Status.UUID, u2.Status.UUID) || len(u1.Status.UUID) != 16 {
		t.Fatal("uuids must be 16 random bytes")
	}

	_, changed := s.empty()
	if !s.ack("t1", u1.Status.UUID) {
		t.Fatal("ack of a pending update: want true")
	}
	select {
	case <-changed:
	default:
		t.Fatal("ack must signal a change")
	}
	if s.ack("t1", u1.Status.UUID) {
		t.Fatal("second ack: want false")
	}
	ups, tasks = s.pending()
	if len(ups) != 2 || !bytes.Equal(ups[0].Status.UUID, u2.Status.UUID) || !bytes.Equal(ups[1].Status.UUID, u3.Status.UUID) {
		t.Fatalf("resend order wrong: %v", ups)
	}
	if len(tasks) != 1 || tasks[0].TaskID.Value != "t2" {
		t.Fatalf("t1 had an update acknowledged: it must no longer be resent; got %v", tasks)
	}
	if un, _ := s.unacked("t1"); !un {
		t.Fatal("t1 has an unacknowledged update")
	}
	s.ack("t1", u2.Status.UUID)
	if un, _ := s.unacked("t1"); un {
		t.Fatal("t1 is fully acknowledged")
	}
	// Unknown uuid: nothing dropped.
	if s.ack("t2", newUUID()) {
		t.Fatal("unknown uuid: want false")
	}
	ups, tasks = s.pending()
	if len(ups) != 1 || len(tasks) != 0 {
		t.Fatalf("got %d updates %d tasks", len(ups), len(tasks))
	}
	s.ack("t2", u3.Status.UUID)
	if e, _ := s.empty(); !e {
		t.Fatal("want empty")
	}
	// A task acked before is not re-added.
	s.addTask(mesos.TaskInfo{TaskID: mesos.TaskID{Value: "t2"}})
	if _, tasks := s.pending(); len(tasks) != 0 {
		t.Fatal("acked task re-added")
	}
}
