package testenv

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/typeurl/v2"
)

// ExitTimes records containerd's exit time of every task of Namespace, by
// container id, from the event stream: the start of an exit → status
// figure, as containerd saw it.
type ExitTimes struct {
	mu sync.Mutex
	at map[string]time.Time
}

// WatchExits subscribes to the tasks' exits until the test ends (the
// watcher is joined at cleanup).
func WatchExits(t testing.TB) *ExitTimes {
	x := &ExitTimes{at: map[string]time.Time{}}
	ctx, cancel := context.WithCancel(context.Background())
	evC, errC := Client(t).Subscribe(ctx, fmt.Sprintf(`namespace==%s,topic=="/tasks/exit"`, Namespace))
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for {
			select {
			case env := <-evC:
				if ev, err := typeurl.UnmarshalAny(env.Event); err == nil {
					if ex, ok := ev.(*apievents.TaskExit); ok && ex.ID == ex.ContainerID {
						x.mu.Lock()
						x.at[ex.ContainerID] = ex.ExitedAt.AsTime()
						x.mu.Unlock()
					}
				}
			case <-errC:
				return
			}
		}
	}()
	return x
}

// Get is the exit time of the container's task, if it exited.
func (x *ExitTimes) Get(id string) (time.Time, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	t, ok := x.at[id]
	return t, ok
}
