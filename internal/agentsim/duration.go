package agentsim

import (
	"strconv"
	"time"
)

// mesosDuration formats d the way Mesos' stout Duration prints itself
// (operator<< in stout/duration.hpp), which is how the agent writes
// MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD, MESOS_RECOVERY_TIMEOUT and
// MESOS_SUBSCRIPTION_BACKOFF_MAX: the largest unit the value reaches, unless
// the value is a whole number only in the next smaller unit ("1500ms", not
// "1.5secs"); otherwise a fraction in the larger unit ("15mins", "2secs").
func mesosDuration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	type unit struct {
		size time.Duration
		name string
	}
	units := []unit{
		{time.Nanosecond, "ns"},
		{time.Microsecond, "us"},
		{time.Millisecond, "ms"},
		{time.Second, "secs"},
		{time.Minute, "mins"},
		{time.Hour, "hrs"},
		{24 * time.Hour, "days"},
		{7 * 24 * time.Hour, "weeks"},
	}
	num := func(u unit) string {
		return sign + strconv.FormatFloat(float64(d)/float64(u.size), 'g', 15, 64) + u.name
	}
	if d < time.Microsecond {
		return num(units[0])
	}
	for i := 1; i < len(units); i++ {
		if i+1 < len(units) && d >= units[i+1].size {
			continue
		}
		// d falls into units[i]'s bucket.
		if d%units[i].size != 0 && d%units[i-1].size == 0 {
			return num(units[i-1])
		}
		if i == 1 && d%units[1].size != 0 {
			return num(units[0])
		}
		return num(units[i])
	}
	return num(units[len(units)-1])
}
