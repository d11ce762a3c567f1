package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/pkg/cio"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/compod/compod/runtime/podstate"
	"github.com/compod/compod/translate"
)

// Health states (docker's names).
const (
	HealthNone      = podstate.HealthNone
	HealthStarting  = podstate.HealthStarting
	HealthHealthy   = podstate.HealthHealthy
	HealthUnhealthy = podstate.HealthUnhealthy
)

// healthLogSize is how many probe results are kept, as docker inspect shows.
const (
	healthLogSize   = 5
	healthOutputMax = 4096
)

// HealthResult is one probe.
type HealthResult = podstate.HealthResult

// ServiceHealth is a service's health as ps and the executor see it.
type ServiceHealth = podstate.Health

// healthProber runs one service's healthcheck by exec'ing it in the
// service's task, on the healthcheck's own schedule.
type healthProber struct {
	e       *Engine
	pod     string
	service string
	hc      translate.Healthcheck
	task    client.Task
	report  func(service string, h ServiceHealth)
	seq     atomic.Int64
	proc    *specs.Process // the probe's process: the service's, with the test as args
}

func (p *healthProber) run(ctx context.Context) {
	h := ServiceHealth{Status: HealthStarting}
	p.report(p.service, h)
	started := time.Now()
	for {
		inStart := p.hc.StartPeriod > 0 && time.Since(started) < p.hc.StartPeriod
		wait := p.hc.Interval
		if inStart && p.hc.StartInterval > 0 {
			wait = p.hc.StartInterval
		}
		if !sleepCtx(ctx, wait) {
			return
		}
		res := p.probe(ctx)
		if ctx.Err() != nil {
			return
		}
		h.Log = append(h.Log, res)
		if len(h.Log) > healthLogSize {
			h.Log = h.Log[len(h.Log)-healthLogSize:]
		}
		prev := h.Status
		switch {
		case res.ExitCode == 0:
			h.FailingStreak = 0
			h.Status = HealthHealthy
		case p.hc.StartPeriod > 0 && res.Start.Sub(started) < p.hc.StartPeriod:
			// Failures during the start period do not count.
		default:
			h.FailingStreak++
			if h.FailingStreak >= max(p.hc.Retries, 1) {
				h.Status = HealthUnhealthy
			}
		}
		if h.Status != prev {
			p.e.log.Info("health changed", "pod", p.pod, "service", p.service, "health", h.Status, "output", res.Output)
		}
		p.report(p.service, cloneHealth(h))
	}
}

func cloneHealth(h ServiceHealth) ServiceHealth {
	h.Log = append([]HealthResult(nil), h.Log...)
	return h
}

// probe execs the healthcheck once, bounded by its timeout.
func (p *healthProber) probe(ctx context.Context) (res HealthResult) {
	res = HealthResult{Start: time.Now(), ExitCode: -1}
	// Named result: the deferred end time is part of what is returned.
	defer func() { res.End = time.Now() }()
	if p.proc == nil {
		// The task's spec does not change: read it once per prober.
		spec, err := p.task.Spec(ctx)
		if err != nil {
			res.Output = "reading the service spec: " + err.Error()
			return res
		}
		proc := *spec.Process
		proc.Args = p.hc.Test
		proc.Terminal = false
		p.proc = &proc
	}
	out := &cappedBuffer{max: healthOutputMax}
	id := fmt.Sprintf("health-%d", p.seq.Add(1))
	pctx, cancel := context.WithTimeout(ctx, p.hc.Timeout)
	defer cancel()
	// Making and starting the exec are not cancelled half way when the
	// probe is (the pod is being stopped): the shim would go on making a
	// process nobody deletes, and a container whose shim has such a
	// process half made may refuse to be killed and deleted (seen with
	// containerd 1.6's runc shim). They run to their end; the process is
	// then killed and deleted.
	cctx, ccancel := createCtx(ctx)
	defer ccancel()
	process, err := p.task.Exec(cctx, id, p.proc, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		res.Output = "starting the probe: " + err.Error()
		return res
	}
	defer process.Delete(cctx, client.WithProcessKill)
	waitC, err := process.Wait(cctx)
	if err != nil {
		res.Output = "waiting for the probe: " + err.Error()
		return res
	}
	if err := process.Start(cctx); err != nil {
		res.Output = "starting the probe: " + err.Error()
		return res
	}
	select {
	case st := <-waitC:
		process.IO().Wait()
		res.ExitCode = int(st.ExitCode())
		res.Output = out.String()
	case <-pctx.Done():
		process.Kill(cctx, 9)
		res.Output = fmt.Sprintf("probe timed out after %v", p.hc.Timeout)
	}
	return res
}

type cappedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *cappedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// imageHealthcheck reads a HEALTHCHECK from the image config (docker's
// extension of the OCI config: config.Healthcheck, durations in ns).
func imageHealthcheck(ctx context.Context, img client.Image) (*translate.Healthcheck, error) {
	desc, err := img.Config(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := content.ReadBlob(ctx, img.ContentStore(), desc)
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Config struct {
			Healthcheck *struct {
				Test          []string
				Interval      time.Duration
				Timeout       time.Duration
				StartPeriod   time.Duration
				StartInterval time.Duration
				Retries       int
			}
		} `json:"config"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, err
	}
	hc := cfg.Config.Healthcheck
	if hc == nil || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		return nil, nil
	}
	out := &translate.Healthcheck{Interval: hc.Interval, Timeout: hc.Timeout, StartPeriod: hc.StartPeriod,
		StartInterval: hc.StartInterval, Retries: hc.Retries}
	switch hc.Test[0] {
	case "CMD":
		out.Test = hc.Test[1:]
	case "CMD-SHELL":
		if len(hc.Test) < 2 {
			return nil, nil
		}
		out.Test = []string{"/bin/sh", "-c", hc.Test[1]}
	default:
		out.Test = hc.Test
	}
	// docker's defaults for fields the image leaves at zero.
	if out.Interval == 0 {
		out.Interval = 30 * time.Second
	}
	if out.Timeout == 0 {
		out.Timeout = 30 * time.Second
	}
	if out.Retries == 0 {
		out.Retries = 3
	}
	if out.StartInterval == 0 {
		out.StartInterval = 5 * time.Second
	}
	return out, nil
}
