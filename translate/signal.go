package translate

import (
	"fmt"
	"strconv"
	"syscall"

	"github.com/moby/sys/signal"
	"golang.org/x/sys/unix"
)

// ParseSignal parses a stop_signal: a name with or without SIG in any case
// ("SIGTERM", "term"), or a number. "" is compose's default, SIGTERM. The
// runtime uses it too, to send the signal the plan names.
func ParseSignal(s string) (syscall.Signal, error) {
	if s == "" {
		return syscall.SIGTERM, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("unknown signal %q: signal numbers are 1 to 64", s)
		}
		return syscall.Signal(n), nil
	}
	sig, err := signal.ParseSignal(s)
	if err != nil {
		return 0, fmt.Errorf("unknown signal %q: use a signal name such as SIGTERM or SIGINT, or a number", s)
	}
	return sig, nil
}

// normalizeSignal validates a stop_signal and returns its canonical name
// ("SIGTERM"), or the number for signals without a name (real-time
// signals).
func normalizeSignal(s string) (string, error) {
	sig, err := ParseSignal(s)
	if err != nil {
		return "", err
	}
	if name := unix.SignalName(sig); name != "" {
		return name, nil
	}
	return strconv.Itoa(int(sig)), nil
}
