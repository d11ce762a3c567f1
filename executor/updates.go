package executor

import (
	"bytes"
	"crypto/rand"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
)

// newUUID returns 16 random bytes, the uuid of one status update.
func newUUID() []byte {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	b[6] = b[6]&0x0f | 0x40 // RFC 4122 version 4, as Mesos' own UUIDs
	b[8] = b[8]&0x3f | 0x80
	return b
}

// updateStore keeps what the executor must resend in SUBSCRIBE after a
// disconnection: the status updates the agent has not acknowledged, in the
// order they were sent, and the tasks none of whose updates has been
// acknowledged yet. It also remembers when each update was last handed to
// the agent (a 202 to an UPDATE call, or SUBSCRIBE carrying it), so that
// the sender retries the ones the agent refused (503 while it recovers, a
// broken connection) and periodically resends the unacknowledged ones.
type updateStore struct {
	mu      sync.Mutex
	updates []executor.Call_Update
	sentAt  []time.Time // parallel to updates; zero: not delivered yet
	tasks   []mesos.TaskInfo
	// acked says whether some update of a task was acknowledged.
	acked map[string]bool
	// changed is closed and replaced whenever an update is acknowledged.
	changed chan struct{}
}

func newUpdateStore() *updateStore {
	return &updateStore{acked: map[string]bool{}, changed: make(chan struct{})}
}

// addTask records a task the agent handed over (LAUNCH).
func (s *updateStore) addTask(t mesos.TaskInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.acked[t.TaskID.Value] {
		s.tasks = append(s.tasks, t)
	}
}

// add records an update as sent and not yet acknowledged.
func (s *updateStore) add(u executor.Call_Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updates = append(s.updates, u)
	s.sentAt = append(s.sentAt, time.Time{})
}

// markSent records that the agent took the updates with these uuids at t.
func (s *updateStore) markSent(t time.Time, ups ...executor.Call_Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range ups {
		for i := range s.updates {
			if bytes.Equal(s.updates[i].Status.UUID, u.Status.UUID) {
				s.sentAt[i] = t
			}
		}
	}
}

// next returns the update to send now: the oldest one the agent has not
// taken yet, else the oldest one it took at least resend ago without
// acknowledging it. Without one, due is when the next resend falls due
// (zero: nothing is pending).
func (s *updateStore) next(now time.Time, resend time.Duration) (u executor.Call_Update, ok bool, due time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, at := range s.sentAt {
		if at.IsZero() {
			return s.updates[i], true, time.Time{}
		}
	}
	for i, at := range s.sentAt {
		d := at.Add(resend)
		if !d.After(now) {
			return s.updates[i], true, time.Time{}
		}
		if due.IsZero() || d.Before(due) {
			due = d
		}
	}
	return executor.Call_Update{}, false, due
}

// ack drops the update with this uuid, and the task from the unacknowledged
// tasks. It reports whether the update was pending.
func (s *updateStore) ack(taskID string, uuid []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acked[taskID] = true
	for i, t := range s.tasks {
		if t.TaskID.Value == taskID {
			s.tasks = append(s.tasks[:i:i], s.tasks[i+1:]...)
			break
		}
	}
	for i, u := range s.updates {
		if u.Status.TaskID.Value == taskID && bytes.Equal(u.Status.UUID, uuid) {
			s.updates = append(s.updates[:i:i], s.updates[i+1:]...)
			s.sentAt = append(s.sentAt[:i:i], s.sentAt[i+1:]...)
			close(s.changed)
			s.changed = make(chan struct{})
			return true
		}
	}
	return false
}

// pending returns copies of the unacknowledged updates and tasks, for
// SUBSCRIBE.
func (s *updateStore) pending() ([]executor.Call_Update, []mesos.TaskInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]executor.Call_Update(nil), s.updates...), append([]mesos.TaskInfo(nil), s.tasks...)
}

// unacked reports whether any update of the task is unacknowledged, and a
// channel that is closed at the next acknowledgement.
func (s *updateStore) unacked(taskID string) (bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.updates {
		if u.Status.TaskID.Value == taskID {
			return true, s.changed
		}
	}
	return false, s.changed
}

// empty reports whether every update has been acknowledged, and a channel
// closed at the next acknowledgement.
func (s *updateStore) empty() (bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.updates) == 0, s.changed
}
