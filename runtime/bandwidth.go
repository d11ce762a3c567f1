package runtime

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compod/compod/cni"
	"github.com/compod/compod/translate"
)

// Labels that limit the pod's bandwidth, in bits per second ("10mbit",
// "500k", "1000000": cni.ParseRate), on every network of the pod whose
// conflist has the bandwidth plugin. They are the pod's (its services
// share one interface per network): a compose service's label, or the
// launch's (UpOptions.Labels: a Mesos task's labels), which wins.
const (
	LabelBandwidthIngress = "compod.bandwidth.ingress"
	LabelBandwidthEgress  = "compod.bandwidth.egress"
)

// podBandwidth reads the pod's limits; what says where they came from,
// for errors. nil when the pod sets none.
func podBandwidth(plan *translate.PodPlan, launch map[string]string) (bw *cni.Bandwidth, what string, err error) {
	var rates [2]uint64
	var from []string
	for i, key := range []string{LabelBandwidthIngress, LabelBandwidthEgress} {
		value, where := launch[key], "the task's labels"
		if _, ok := launch[key]; !ok {
			var by []string
			for _, s := range plan.Services {
				v, ok := s.Labels[key]
				if !ok {
					continue
				}
				if value != "" && v != value {
					return nil, "", fmt.Errorf("label %s: service %q says %q, service %q says %q: the limit is the pod's (its services share its interfaces), so give it once or the same everywhere", key, by[0], value, s.Name, v)
				}
				value = v
				by = append(by, s.Name)
			}
			if len(by) == 0 {
				continue
			}
			sort.Strings(by)
			where = "service " + strings.Join(by, ", ")
		}
		rate, err := cni.ParseRate(value)
		if err != nil {
			return nil, "", fmt.Errorf("label %s (%s): %w", key, where, err)
		}
		rates[i] = rate
		from = append(from, fmt.Sprintf("%s=%s (%s)", key, value, where))
	}
	return cni.BandwidthFor(rates[0], rates[1]), strings.Join(from, ", "), nil
}

// applyBandwidth puts the pod's limits on the networks that can apply
// them (indexes in nets); a pod with limits and no such network is
// refused, naming the networks.
func applyBandwidth(plan *translate.PodPlan, launch map[string]string, nets []NetworkAttachment, capable []int) error {
	bw, what, err := podBandwidth(plan, launch)
	if err != nil || bw == nil {
		return err
	}
	if len(capable) == 0 {
		names := make([]string, len(nets))
		for i, a := range nets {
			names[i] = a.Request.Name
		}
		if len(names) == 0 {
			return fmt.Errorf("%s: the pod has no network to limit", what)
		}
		return fmt.Errorf("%s: the pod's CNI network %s cannot limit bandwidth: its conflist has no bandwidth plugin with capabilities {\"%s\": true}; add one, or remove the label", what, strings.Join(names, ", "), cni.CapBandwidth)
	}
	for _, i := range capable {
		b := *bw
		nets[i].Request.Options.Bandwidth = &b
	}
	return nil
}
