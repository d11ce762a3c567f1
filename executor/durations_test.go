package executor

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"5secs":    5 * time.Second,
		"15mins":   15 * time.Minute,
		"2secs":    2 * time.Second,
		"100ms":    100 * time.Millisecond,
		"1hrs":     time.Hour,
		"1days":    24 * time.Hour,
		"1weeks":   7 * 24 * time.Hour,
		"250us":    250 * time.Microsecond,
		"10ns":     10,
		"1.5mins":  90 * time.Second,
		"0.5secs":  500 * time.Millisecond,
		"0ns":      0,
		" 3secs ":  3 * time.Second,
		"30s":      30 * time.Second, // Go notation, for the config file
		"1m30s":    90 * time.Second,
		"2h":       2 * time.Hour,
		"1.5days":  36 * time.Hour,
		"60secs":   time.Minute,
		"1000ms":   time.Second,
		"3.25hrs":  3*time.Hour + 15*time.Minute,
		"2weeks":   14 * 24 * time.Hour,
		"20mins":   20 * time.Minute,
		"999us":    999 * time.Microsecond,
		"1ms":      time.Millisecond,
		"7days":    7 * 24 * time.Hour,
		"1.0weeks": 7 * 24 * time.Hour,
		// Rounded, not truncated (2011426.9999999998 in floating point):
		// what Duration writes must read back the same.
		"2.011427ms":            2011427,
		"9223372036854775295ns": 9223372036854774784, // the last float64 below 2^63
	} {
		got, err := ParseDuration(in)
		if err != nil {
			t.Errorf("ParseDuration(%q): %v", in, err)
			continue
		}
		if got != want {
			t.Errorf("ParseDuration(%q) = %v, want %v", in, got, want)
		}
	}
	for _, in := range []string{"", "secs", "5", "5 fortnights", "-1secs", "abc", "5sec", "1e400secs",
		// NaN and 2^63 convert to negative Durations.
		"NaNsecs", "nansecs", "9223372036854775807ns", "106751.99116730065days"} {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		}
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("2mins")); err != nil || time.Duration(d) != 2*time.Minute {
		t.Fatalf("got %v, %v", time.Duration(d), err)
	}
	if b, _ := d.MarshalText(); string(b) != "2m0s" {
		t.Fatalf("MarshalText = %s", b)
	}
}
