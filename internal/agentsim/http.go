package agentsim

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/executor"
	"github.com/mesos/mesos-go/api/v1/lib/recordio"
)

const (
	mediaProtobuf = "application/x-protobuf"
	mediaJSON     = "application/json"
)

// stream is one SUBSCRIBE response: events are queued here by the agent
// and written as RecordIO records by the handler goroutine.
type stream struct {
	events chan *executor.Event
	done   chan struct{}
	once   sync.Once
}

func newStream() *stream {
	return &stream{events: make(chan *executor.Event, 4096), done: make(chan struct{})}
}

func (s *stream) send(ev *executor.Event) bool {
	select {
	case <-s.done:
		return false
	default:
	}
	select {
	case s.events <- ev:
		return true
	default:
		return false
	}
}

func (s *stream) close() { s.once.Do(func() { close(s.done) }) }

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}

// acceptsMediaType is libprocess' Request::acceptsMediaType: a missing
// Accept header accepts everything; otherwise the type, its "type/*" or
// "*/*" must be listed with q > 0.
func acceptsMediaType(header []string, media string) bool {
	if len(header) == 0 {
		return true
	}
	typ := media[:strings.IndexByte(media, '/')]
	best := -1.0
	for _, h := range header {
		for _, part := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if qs, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(qs, 64); err == nil {
					q = f
				}
			}
			if mt == media || mt == typ+"/*" || mt == "*/*" {
				// The most specific match decides.
				if mt == media {
					return q > 0
				}
				best = max(best, q)
			}
		}
	}
	return best > 0
}

// validateCall is common::validation::validateExecutorCall.
func validateCall(c *executor.Call) string {
	if c.ExecutorID.Value == "" {
		return "Expecting 'executor_id' to be present"
	}
	if c.FrameworkID.Value == "" {
		return "Expecting 'framework_id' to be present"
	}
	switch c.Type {
	case executor.Call_SUBSCRIBE:
		if c.Subscribe == nil {
			return "Expecting 'subscribe' to be present"
		}
	case executor.Call_UPDATE:
		if c.Update == nil {
			return "Expecting 'update' to be present"
		}
		st := c.Update.Status
		if len(st.UUID) == 0 {
			return "Expecting 'uuid' to be present"
		}
		if len(st.UUID) != 16 {
			return "Invalid UUID: expecting 16 bytes, got " + strconv.Itoa(len(st.UUID))
		}
		if st.ExecutorID != nil && st.ExecutorID.Value != c.ExecutorID.Value {
			return "ExecutorID in Call: " + c.ExecutorID.Value + " does not match ExecutorID in TaskStatus: " + st.ExecutorID.Value
		}
		if st.Source == nil || *st.Source != mesos.SOURCE_EXECUTOR {
			return "Received Call from executor " + c.ExecutorID.Value + " of framework " + c.FrameworkID.Value + " with invalid source, expecting 'SOURCE_EXECUTOR'"
		}
		if st.State == nil {
			return "Not initialized: update.status.state"
		}
		if *st.State == mesos.TASK_STAGING {
			return "Received TASK_STAGING from executor " + c.ExecutorID.Value + " of framework " + c.FrameworkID.Value + " which is not allowed"
		}
	case executor.Call_MESSAGE:
		if c.Message == nil {
			return "Expecting 'message' to be present"
		}
	}
	return ""
}

// handleExecutor is Http::executor (src/slave/http.cpp).
func (a *Agent) handleExecutor(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		httpError(w, http.StatusMethodNotAllowed, "Expecting one of { 'POST' }, but received '"+r.Method+"'")
		return
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		httpError(w, http.StatusBadRequest, "Expecting 'Content-Type' to be present")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		httpError(w, http.StatusBadRequest, "Failed to read body: "+err.Error())
		return
	}
	var call executor.Call
	switch ct {
	case mediaProtobuf:
		if err := call.Unmarshal(body); err != nil {
			httpError(w, http.StatusBadRequest, "Failed to parse body into Call protobuf")
			return
		}
	case mediaJSON:
		if err := json.Unmarshal(body, &call); err != nil {
			httpError(w, http.StatusBadRequest, "Failed to convert JSON into Call protobuf: "+err.Error())
			return
		}
	default:
		httpError(w, http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of "+mediaJSON+" or "+mediaProtobuf)
		return
	}
	if msg := validateCall(&call); msg != "" {
		httpError(w, http.StatusBadRequest, "Failed to validate Executor::Call: "+msg)
		return
	}

	accept := ""
	switch call.Type {
	case executor.Call_SUBSCRIBE:
		// JSON first: an empty Accept accepts every media type.
		switch {
		case acceptsMediaType(r.Header.Values("Accept"), mediaJSON):
			accept = mediaJSON
		case acceptsMediaType(r.Header.Values("Accept"), mediaProtobuf):
			accept = mediaProtobuf
		default:
			httpError(w, http.StatusNotAcceptable, "Expecting 'Accept' to allow '"+mediaProtobuf+"' or '"+mediaJSON+"'")
			return
		}
	case executor.Call_HEARTBEAT:
		w.WriteHeader(http.StatusAccepted)
		return
	}

	a.mu.Lock()
	if call.Type != executor.Call_SUBSCRIBE && a.state == agentRecovering {
		a.mu.Unlock()
		httpError(w, http.StatusServiceUnavailable, "Agent has not finished recovery")
		return
	}
	var e *Executor
	found := false
	for k, ex := range a.execs {
		if k.fw == call.FrameworkID.Value {
			found = true
			if k.eid == call.ExecutorID.Value {
				e = ex
			}
		}
	}
	if !found {
		a.mu.Unlock()
		httpError(w, http.StatusBadRequest, "Framework cannot be found")
		return
	}
	if e == nil {
		a.mu.Unlock()
		httpError(w, http.StatusBadRequest, "Executor cannot be found")
		return
	}
	if e.state == execRegistering && call.Type != executor.Call_SUBSCRIBE {
		a.mu.Unlock()
		httpError(w, http.StatusForbidden, "Executor is not subscribed")
		return
	}

	switch call.Type {
	case executor.Call_SUBSCRIBE:
		s := e.subscribe(call.Subscribe)
		a.mu.Unlock()
		a.serveStream(w, r, e, s, accept)
	case executor.Call_UPDATE:
		st := call.Update.Status
		// Slave::statusUpdate: the agent stamps the status with its own id,
		// the source (SOURCE_EXECUTOR) and the executor id of the call.
		e.handleUpdate(st, false)
		a.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	case executor.Call_MESSAGE:
		e.messages = append(e.messages, call.Message.Data)
		e.notify()
		a.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	default:
		a.mu.Unlock()
		httpError(w, http.StatusNotImplemented, "Received 'UNKNOWN' call")
	}
}

// subscribe is Slave::subscribe for an HTTP executor; with a.mu held. It
// returns the stream with SUBSCRIBED (or SHUTDOWN) already queued.
func (e *Executor) subscribe(sub *executor.Call_Subscribe) *stream {
	a := e.a
	s := newStream()
	e.subscriptions++
	e.notify()
	switch e.state {
	case execTerminating, execTerminated:
		a.log.Info("shutting down executor re-subscribing while terminating", "executor", e.id)
		s.send(&executor.Event{Type: executor.Event_SHUTDOWN})
		s.close()
		return s
	}
	// Close an earlier connection (possibly a retried SUBSCRIBE).
	e.closeStream()
	e.state = execRunning
	e.stream = s
	a.log.Info("executor subscribed", "executor", e.id, "subscription", e.subscriptions,
		"unacked_updates", len(sub.UnacknowledgedUpdates), "unacked_tasks", len(sub.UnacknowledgedTasks))

	// Resent updates are handled like live ones; their acknowledgements
	// follow SUBSCRIBED on the stream (they are sent once the status update
	// manager has handled them).
	withhold := a.withhold
	a.withhold = true
	type pendingAck struct {
		task mesos.TaskID
		uuid []byte
	}
	var acks []pendingAck
	for _, u := range sub.UnacknowledgedUpdates {
		st := u.Status
		e.handleUpdate(st, true)
		acks = append(acks, pendingAck{st.TaskID, st.UUID})
	}
	a.withhold = withhold

	// Tasks the agent sent that the executor neither knows nor has
	// acknowledged were lost in the restart: TASK_LOST/DROPPED.
	unacked := map[string]bool{}
	for _, t := range sub.UnacknowledgedTasks {
		unacked[t.TaskID.Value] = true
	}
	for _, id := range e.taskOrder {
		t := e.tasks[id]
		if t.state == mesos.TASK_STAGING && !unacked[id] {
			st := mesos.TASK_DROPPED
			if lostState(e.fw) == mesos.TASK_LOST {
				st = mesos.TASK_LOST
			}
			e.record(e.agentStatus(t.info.TaskID, st, mesos.SOURCE_AGENT, mesos.REASON_AGENT_RESTARTED, "Task launched during agent restart"), false)
			t.state = st
		}
	}

	// MESOS-8411: an executor that was never sent a task and has none
	// queued is shut down.
	if !e.everSentTask && len(e.queued) == 0 {
		a.log.Info("shutting down executor that was never sent a task", "executor", e.id)
		e.state = execTerminating
		s.send(&executor.Event{Type: executor.Event_SHUTDOWN})
		grace := e.grace
		time.AfterFunc(grace, func() { e.destroy("shutdown grace period (" + mesosDuration(grace) + ") elapsed") })
		return s
	}

	fw := e.fw
	port := int32(0)
	if _, p, ok := strings.Cut(a.addr, ":"); ok {
		n, _ := strconv.Atoi(p)
		port = int32(n)
	}
	s.send(&executor.Event{
		Type: executor.Event_SUBSCRIBED,
		Subscribed: &executor.Event_Subscribed{
			ExecutorInfo:  e.info,
			FrameworkInfo: fw,
			AgentInfo: mesos.AgentInfo{
				Hostname: a.cfg.Hostname,
				Port:     &port,
				ID:       &mesos.AgentID{Value: a.agentID},
			},
			ContainerID: &mesos.ContainerID{Value: e.containerID},
		},
	})
	for _, p := range acks {
		a.ack(e, p.task, p.uuid)
	}
	e.launchQueued()
	return s
}

// serveStream writes the subscription's events as RecordIO records on a
// chunked 200 response until the stream is closed, the executor hangs up
// or the agent goes down. HEARTBEAT events are interleaved.
func (a *Agent) serveStream(w http.ResponseWriter, r *http.Request, e *Executor, s *stream, accept string) {
	flusher, _ := w.(http.Flusher)
	// No Content-Length: net/http uses Transfer-Encoding: chunked.
	w.Header().Set("Content-Type", accept)
	w.Header().Set("Connection", "keep-alive")
	w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	rw := recordio.NewWriter(w)
	write := func(ev *executor.Event) bool {
		var b []byte
		var err error
		if accept == mediaJSON {
			b, err = json.Marshal(ev)
		} else {
			b, err = ev.Marshal()
		}
		if err != nil {
			a.log.Error("encoding event", "err", err)
			return false
		}
		if err := rw.WriteFrame(b); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	a.mu.Lock()
	hb := a.cfg.HeartbeatInterval
	a.mu.Unlock()
	ticker := time.NewTicker(hb)
	defer ticker.Stop()
	defer func() {
		a.mu.Lock()
		if e.stream == s {
			e.stream = nil
			a.log.Info("executor subscription closed", "executor", e.id)
		}
		a.mu.Unlock()
		s.close()
	}()
	for {
		// Events already queued go out before a close takes effect (a
		// SHUTDOWN answering a late SUBSCRIBE is written, then the stream
		// ends).
		select {
		case ev := <-s.events:
			if !write(ev) {
				return
			}
			continue
		default:
		}
		select {
		case ev := <-s.events:
			if !write(ev) {
				return
			}
		case <-ticker.C:
			if !write(&executor.Event{Type: executor.Event_HEARTBEAT}) {
				return
			}
		case <-s.done:
			return
		case <-r.Context().Done():
			return
		}
	}
}
