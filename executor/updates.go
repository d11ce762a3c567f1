package executor

import (
	"bytes"
	"crypto/rand"
	"sync"

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
// acknowledged yet.
type updateStore struct {
	mu      sync.Mutex
	updates []executor.Call_Update
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
