package executor

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// mesosUnits are the duration units of Mesos' stout library, longest
// suffix first so that "secs" is not read as "s".
var mesosUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"weeks", 7 * 24 * time.Hour},
	{"days", 24 * time.Hour},
	{"mins", time.Minute},
	{"secs", time.Second},
	{"hrs", time.Hour},
	{"ms", time.Millisecond},
	{"us", time.Microsecond},
	{"ns", time.Nanosecond},
}

// ParseDuration reads a duration as the Mesos agent writes it into the
// executor's environment ("5secs", "15mins", "100ms", "1.5days": a number
// and one of ns, us, ms, secs, mins, hrs, days, weeks). For compod's own
// config file it also accepts Go's notation ("30s", "1m30s"). mesos-go's
// lib/time.ParseDuration reads the Mesos notation only, truncates
// ("2.011427ms" is 2011426ns there, 2011427ns here) and converts
// out-of-range values to garbage ("9999999999999999999days"); cases the
// fuzzer found are in testdata/fuzz/FuzzParseDuration.
func ParseDuration(s string) (time.Duration, error) {
	v := strings.TrimSpace(s)
	if v == "" {
		return 0, fmt.Errorf("invalid duration %q: empty", s)
	}
	for _, u := range mesosUnits {
		num, ok := strings.CutSuffix(v, u.suffix)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		// !(f >= 0) also refuses NaN, which ParseFloat accepts and which
		// converts to a negative Duration.
		if err != nil || !(f >= 0) {
			break // maybe Go notation ("1m30ms"); tried below
		}
		d := f * float64(u.unit)
		// float64(1<<63-1) rounds up to 2^63, which itself overflows
		// Duration: compare with 2^63, excluded.
		if d >= 1<<63 {
			return 0, fmt.Errorf("invalid duration %q: too long", s)
		}
		// Rounded, not truncated: "2.011427ms" (what Duration writes) is
		// 2011426.9999999998 ns in floating point.
		return time.Duration(math.Round(d)), nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return d, nil
	}
	return 0, fmt.Errorf("invalid duration %q: want a number and a unit (ns, us, ms, secs, mins, hrs, days, weeks), e.g. \"5secs\"", s)
}

// Duration is a time.Duration that reads Mesos ("5secs") or Go ("5s")
// notation from config files and writes Go notation.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler (YAML and JSON strings).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }
