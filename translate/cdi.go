package translate

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
)

// GPUs and other devices by name go through CDI (the Container Device
// Interface, what docker, podman and containerd use): a vendor's spec file
// (/etc/cdi, /var/run/cdi; nvidia-ctk cdi generate writes NVIDIA's)
// says which device nodes, mounts and environment a device name
// ("nvidia.com/gpu=0") gives a container. translate turns the compose
// forms into such names; the runtime resolves them against the host's
// specs and fails, naming the name and the spec dirs, when a host has
// none.
//
//	devices: ["nvidia.com/gpu=all"]                  a CDI name as it is
//	gpus: all | [{count, device_ids, driver}]        NVIDIA GPUs
//	deploy.resources.reservations.devices:           the same with
//	  [{capabilities: [gpu], count, device_ids}]     capabilities: [gpu]

// cdiNameRe is CDI's qualified device name: vendor/class=name.
var cdiNameRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9.-]*[a-zA-Z0-9]\.[a-zA-Z]+/[a-zA-Z0-9][a-zA-Z0-9_.-]*=[a-zA-Z0-9][a-zA-Z0-9_.:-]*$`)

// IsCDIName reports whether a devices entry is a CDI device name.
func IsCDIName(s string) bool { return cdiNameRe.MatchString(s) }

// nvidiaGPU is the CDI kind of NVIDIA's GPUs (nvidia-ctk's specs).
const nvidiaGPU = "nvidia.com/gpu"

// gpuRequests turns a list of device requests (gpus:, or reservations'
// devices:) into CDI names; field names the list for errors.
func (t *translator) gpuRequests(service, field string, reqs []types.DeviceRequest) []string {
	var out []string
	for i, r := range reqs {
		f := fmt.Sprintf("%s[%d]", field, i)
		if field == "deploy.resources.reservations.devices" && !slices.Contains(r.Capabilities, "gpu") {
			t.fail(service, f, "capabilities %v: only GPU requests (capabilities: [gpu]) are supported; name other devices by CDI name or path in devices:", r.Capabilities)
			continue
		}
		if r.Driver != "" && r.Driver != "nvidia" && r.Driver != "cdi" {
			t.fail(service, f, "driver %q: GPUs are NVIDIA's through CDI (driver nvidia, or none); name other vendors' devices by CDI name in devices:", r.Driver)
			continue
		}
		if len(r.Options) > 0 {
			t.warn(service, f+".options", "ignored: the CDI spec of the device says how to set it up")
		}
		switch {
		case len(r.IDs) > 0:
			if r.Count != 0 {
				t.fail(service, f, "count and device_ids are exclusive")
				continue
			}
			for _, id := range r.IDs {
				if r.Driver == "cdi" {
					out = append(out, id)
				} else {
					out = append(out, nvidiaGPU+"="+id)
				}
			}
		case r.Count == -1:
			out = append(out, nvidiaGPU+"=all")
		case r.Count > 0:
			for n := range int(r.Count) {
				out = append(out, nvidiaGPU+"="+strconv.Itoa(n))
			}
		default:
			// docker: a request without count or ids is every GPU.
			out = append(out, nvidiaGPU+"=all")
		}
	}
	return out
}

// cdiDevices collects the service's CDI device names, each once.
func (t *translator) cdiDevices(s *types.ServiceConfig) []string {
	var out []string
	add := func(names ...string) {
		for _, n := range names {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	for _, d := range s.Devices {
		if IsCDIName(d.Source) {
			add(d.Source)
		}
	}
	add(t.gpuRequests(s.Name, "gpus", s.Gpus)...)
	if s.Deploy != nil && s.Deploy.Resources.Reservations != nil {
		add(t.gpuRequests(s.Name, "deploy.resources.reservations.devices", s.Deploy.Resources.Reservations.Devices)...)
	}
	return out
}
