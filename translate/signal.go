package translate

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// normalizeSignal validates a stop_signal (a name, with or without SIG,
// any case, or a number) and returns its canonical name ("SIGTERM"), or
// the number for signals without a name (real-time signals). The runtime
// parses the same forms when it stops the service.
func normalizeSignal(s string) (string, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return "", fmt.Errorf("unknown signal %q: signal numbers are 1 to 64", s)
		}
		if name := unix.SignalName(syscall.Signal(n)); name != "" {
			return name, nil
		}
		return s, nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if unix.SignalNum(name) == 0 {
		return "", fmt.Errorf("unknown signal %q: use a signal name such as SIGTERM or SIGINT, or a number", s)
	}
	return name, nil
}
