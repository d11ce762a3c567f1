package translate

import (
	"math"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// docker's healthcheck defaults.
const (
	defaultHealthInterval      = 30 * time.Second
	defaultHealthTimeout       = 30 * time.Second
	defaultHealthRetries       = 3
	defaultHealthStartInterval = 5 * time.Second
)

// healthcheck translates a compose healthcheck. nil means "the image's
// healthcheck, if any"; a Healthcheck with an empty Test means "disabled"
// (test NONE or disable: true), which must also switch off the image's.
func (t *translator) healthcheck(service string, hc *types.HealthCheckConfig) *Healthcheck {
	if hc == nil {
		return nil
	}
	if hc.Disable || (len(hc.Test) > 0 && hc.Test[0] == "NONE") {
		return &Healthcheck{Test: []string{}}
	}
	out := &Healthcheck{
		Interval:      durationOr(hc.Interval, defaultHealthInterval),
		Timeout:       durationOr(hc.Timeout, defaultHealthTimeout),
		Retries:       defaultHealthRetries,
		StartPeriod:   durationOr(hc.StartPeriod, 0),
		StartInterval: durationOr(hc.StartInterval, defaultHealthStartInterval),
	}
	if hc.Retries != nil {
		// compose-go reads retries as uint64: a value past int would
		// wrap to a negative count, which the runtime reads as "unhealthy
		// at the first failure" instead of "practically never".
		if *hc.Retries > math.MaxInt32 {
			t.fail(service, "healthcheck.retries", "%d is too large (at most %d)", *hc.Retries, math.MaxInt32)
		} else {
			out.Retries = int(*hc.Retries)
		}
	}
	for _, c := range []struct {
		field string
		d     time.Duration
	}{{"healthcheck.interval", out.Interval}, {"healthcheck.timeout", out.Timeout}, {"healthcheck.start_period", out.StartPeriod}, {"healthcheck.start_interval", out.StartInterval}} {
		if c.d < 0 {
			t.fail(service, c.field, "must not be negative")
		}
	}
	switch {
	case len(hc.Test) == 0:
		// docker would keep the image's test with these timings; the plan
		// cannot say "image test, compose timings", so the image's
		// healthcheck is used as it is.
		t.warn(service, "healthcheck", "no test given: the image's healthcheck (if any) is used with its own timings")
		return nil
	case hc.Test[0] == "CMD":
		out.Test = append([]string{}, hc.Test[1:]...)
	case hc.Test[0] == "CMD-SHELL":
		if len(hc.Test) != 2 {
			t.fail(service, "healthcheck.test", "CMD-SHELL takes exactly one command string")
			return nil
		}
		out.Test = []string{"/bin/sh", "-c", hc.Test[1]}
	default:
		t.fail(service, "healthcheck.test", "must start with CMD, CMD-SHELL or NONE, not %q", hc.Test[0])
		return nil
	}
	if len(out.Test) == 0 || out.Test[0] == "" {
		t.fail(service, "healthcheck.test", "the command is empty")
	}
	return out
}

// durationOr is d, or def when d is unset or zero (docker's "inherit the
// default").
func durationOr(d *types.Duration, def time.Duration) time.Duration {
	if d == nil || *d == 0 {
		return def
	}
	return time.Duration(*d)
}
