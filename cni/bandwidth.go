package cni

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// CapBandwidth is the bandwidth plugin's capability: per-pod rate limits
// on the pod's interface, a tbf qdisc on the host end of the veth for the
// pod's ingress and one on an ifb device for its egress.
const CapBandwidth = "bandwidth"

// Bandwidth is the bandwidth plugin's runtime config: rates in bits per
// second, bursts in bits; zero leaves that direction unlimited.
type Bandwidth struct {
	IngressRate  uint64 `json:"ingressRate,omitempty"`
	IngressBurst uint64 `json:"ingressBurst,omitempty"`
	EgressRate   uint64 `json:"egressRate,omitempty"`
	EgressBurst  uint64 `json:"egressBurst,omitempty"`
}

// BandwidthFor limits ingress and egress (bits per second, 0: unlimited)
// with a burst of a tenth of a second at the rate (at least 128 kbit,
// some full-size frames): the plugin needs a burst with every rate, and
// tbf one of at least rate/HZ to reach its rate at all.
func BandwidthFor(ingress, egress uint64) *Bandwidth {
	if ingress == 0 && egress == 0 {
		return nil
	}
	return &Bandwidth{IngressRate: ingress, IngressBurst: burstFor(ingress), EgressRate: egress, EgressBurst: burstFor(egress)}
}

func burstFor(rate uint64) uint64 {
	if rate == 0 {
		return 0
	}
	b := max(rate/10, 128_000)
	// The plugin refuses bursts of 4 GB and more.
	return min(b, (math.MaxUint32-1)*8)
}

// ParseRate reads a rate in bits per second: an integer, optionally with
// a k, m or g suffix (powers of 1000, as tc counts) and an optional "bit"
// ("10m", "10mbit", "250kbit", "1000000").
func ParseRate(s string) (uint64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "bit")
	mult := uint64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult, t = 1_000, t[:n-1]
		case 'm':
			mult, t = 1_000_000, t[:n-1]
		case 'g':
			mult, t = 1_000_000_000, t[:n-1]
		}
	}
	v, err := strconv.ParseUint(t, 10, 64)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("rate %q: want a positive number of bits per second, optionally with k, m or g (powers of 1000) and \"bit\": 500k, 10mbit, 1g", s)
	}
	if v > math.MaxUint64/mult/10 {
		return 0, fmt.Errorf("rate %q is too large", s)
	}
	return v * mult, nil
}
