package mesosframework

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
	"github.com/mesos/mesos-go/api/v1/lib/scheduler"
)

// fakeMaster speaks just enough of the v1 scheduler API (protobuf,
// RecordIO) to drive a Framework: SUBSCRIBE opens the event stream; every
// other call is recorded and answered 202.
type fakeMaster struct {
	t      *testing.T
	events chan *scheduler.Event
	mu     sync.Mutex
	calls  []*scheduler.Call
	bad    []string // protocol errors seen
	called chan struct{}
}

func newFakeMaster(t *testing.T) (*fakeMaster, string) {
	m := &fakeMaster{t: t, events: make(chan *scheduler.Event, 16), called: make(chan struct{}, 64)}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, strings.TrimPrefix(srv.URL, "http://")
}

func (m *fakeMaster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var call scheduler.Call
	if r.URL.Path != "/api/v1/scheduler" || r.Header.Get("Content-Type") != "application/x-protobuf" || call.Unmarshal(body) != nil {
		m.mu.Lock()
		m.bad = append(m.bad, r.URL.Path+" "+r.Header.Get("Content-Type"))
		m.mu.Unlock()
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if call.Type != scheduler.Call_SUBSCRIBE {
		m.mu.Lock()
		if r.Header.Get("Mesos-Stream-Id") != "stream-1" {
			m.bad = append(m.bad, call.Type.String()+" without Mesos-Stream-Id")
		}
		if call.GetFrameworkID().GetValue() != "fw-1" {
			m.bad = append(m.bad, call.Type.String()+" without framework id")
		}
		m.calls = append(m.calls, &call)
		m.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		m.called <- struct{}{}
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Mesos-Stream-Id", "stream-1")
	w.WriteHeader(http.StatusOK)
	rw := recordio.NewWriter(w)
	send := func(e *scheduler.Event) bool {
		b, err := e.Marshal()
		if err != nil {
			m.t.Error(err)
			return false
		}
		if rw.WriteFrame(b) != nil {
			return false
		}
		w.(http.Flusher).Flush()
		return true
	}
	fid := mesos.FrameworkID{Value: "fw-1"}
	if !send(&scheduler.Event{Type: scheduler.Event_SUBSCRIBED, Subscribed: &scheduler.Event_Subscribed{FrameworkID: &fid}}) {
		return
	}
	for {
		select {
		case e := <-m.events:
			if !send(e) {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

func (m *fakeMaster) waitCall(t *testing.T, typ scheduler.Call_Type) *scheduler.Call {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		m.mu.Lock()
		for _, c := range m.calls {
			if c.Type == typ {
				m.mu.Unlock()
				return c
			}
		}
		m.mu.Unlock()
		select {
		case <-m.called:
		case <-deadline:
			t.Fatalf("no %s call", typ)
		}
	}
}

func update(taskID string, state mesos.TaskState, uuid string) *scheduler.Event {
	st := mesos.TaskStatus{TaskID: mesos.TaskID{Value: taskID}, State: state.Enum(), AgentID: &mesos.AgentID{Value: "a1"}}
	if uuid != "" {
		st.UUID = []byte(uuid)
	}
	return &scheduler.Event{Type: scheduler.Event_UPDATE, Update: &scheduler.Event_Update{Status: st}}
}

func TestFrameworkLaunchAckKill(t *testing.T) {
	m, addr := newFakeMaster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fw, err := Subscribe(ctx, Config{Master: addr, Checkpoint: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if fw.ID() != "fw-1" {
		t.Fatalf("framework id %q", fw.ID())
	}

	// The offer arrives after Launch starts waiting for it.
	spec := TaskSpec{TaskID: "t1", Compod: "/bin/compod", ComposeFile: "/tmp/c.yaml",
		Request: Request{CPUs: 0.5, Mem: 256, ExecutorCPUs: 0.1, ExecutorMem: 64, NumPorts: 1}}
	go func() {
		time.Sleep(50 * time.Millisecond)
		m.events <- &scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{
			Offers: []mesos.Offer{offer("o1", "a1", 2, 2048, [2]uint64{31000, 31010})}}}
	}()
	l, err := fw.Launch(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	acc := m.waitCall(t, scheduler.Call_ACCEPT).GetAccept()
	if len(acc.OfferIDs) != 1 || acc.OfferIDs[0].Value != "o1" || len(acc.Operations) != 1 {
		t.Fatalf("accept = %+v", acc)
	}
	if acc.GetFilters().GetRefuseSeconds() != 0 {
		t.Fatalf("refuse_seconds = %v", acc.GetFilters().GetRefuseSeconds())
	}
	launched := acc.Operations[0].GetLaunch().GetTaskInfos()
	if len(launched) != 1 || launched[0].TaskID.Value != "t1" || launched[0].GetExecutor().GetFrameworkID().GetValue() != "fw-1" {
		t.Fatalf("launched = %+v", launched)
	}
	if l.Match.Ports[0] != 31000 {
		t.Fatalf("ports %v", l.Match.Ports)
	}

	m.events <- update("t1", mesos.TASK_STARTING, "u1")
	m.events <- update("t1", mesos.TASK_RUNNING, "u2")
	u, err := fw.WaitState(ctx, "t1", mesos.TASK_RUNNING)
	if err != nil || u.Status.GetState() != mesos.TASK_RUNNING {
		t.Fatalf("WaitState = %+v, %v", u, err)
	}
	ack := m.waitCall(t, scheduler.Call_ACKNOWLEDGE).GetAcknowledge()
	if ack.TaskID.Value != "t1" || ack.AgentID.Value != "a1" || string(ack.UUID) != "u1" {
		t.Fatalf("ack = %+v", ack)
	}

	if _, err := fw.Kill(ctx, "t1", "a1"); err != nil {
		t.Fatal(err)
	}
	kill := m.waitCall(t, scheduler.Call_KILL).GetKill()
	if kill.TaskID.Value != "t1" || kill.GetAgentID().GetValue() != "a1" {
		t.Fatalf("kill = %+v", kill)
	}
	// A terminal state other than the awaited one ends the wait.
	m.events <- update("t1", mesos.TASK_FAILED, "u3")
	_, err = fw.WaitState(ctx, "t1", mesos.TASK_KILLED)
	if _, ok := err.(*UnexpectedError); !ok {
		t.Fatalf("WaitState(KILLED) after FAILED = %v", err)
	}
	if n := len(fw.Updates("t1")); n != 3 {
		t.Fatalf("%d updates recorded", n)
	}

	if err := fw.Close(ctx); err != nil {
		t.Fatal(err)
	}
	m.waitCall(t, scheduler.Call_TEARDOWN)
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.bad) > 0 {
		t.Fatalf("protocol errors: %v", m.bad)
	}
}

func TestLaunchWaitsForEnoughOffers(t *testing.T) {
	m, addr := newFakeMaster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fw, err := Subscribe(ctx, Config{Master: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close(ctx)
	m.events <- &scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{
		Offers: []mesos.Offer{offer("o1", "a1", 2, 2048, [2]uint64{31001, 31010})}}}
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancelShort()
	_, err = fw.Launch(short, TaskSpec{TaskID: "t1", Request: Request{CPUs: 1, Mem: 1, Ports: []uint64{31000}}})
	if err == nil || !strings.Contains(err.Error(), "port 31000 not offered") {
		t.Fatalf("Launch without the port = %v", err)
	}
	// The port comes back (the task that held it ended).
	m.events <- &scheduler.Event{Type: scheduler.Event_OFFERS, Offers: &scheduler.Event_Offers{
		Offers: []mesos.Offer{offer("o2", "a1", 0, 0, [2]uint64{31000, 31000})}}}
	l, err := fw.Launch(ctx, TaskSpec{TaskID: "t2", Request: Request{CPUs: 1, Mem: 1, Ports: []uint64{31000}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Match.OfferIDs) != 2 || l.Match.Ports[0] != 31000 {
		t.Fatalf("match = %+v", l.Match)
	}
}
