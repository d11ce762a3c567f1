package translate

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// allowed_devices and min_oom_score_adj judge what a service asks for.
func TestPolicyDevicesAndOOMScoreAdj(t *testing.T) {
	dev := func(src string) []DeviceSpec { return []DeviceSpec{{Source: src, Target: src, Permissions: "rwm"}} }
	for _, tc := range []struct {
		name string
		svc  ServiceSpec
		p    Policy
		want []string
	}{
		{name: "no rule: any device", svc: ServiceSpec{Devices: dev("/dev/fuse")}},
		{name: "empty list: no device", svc: ServiceSpec{Devices: dev("/dev/fuse")},
			p: Policy{AllowedDevices: ptr([]string{})}, want: []string{"allowed_devices"}},
		{name: "exact path", svc: ServiceSpec{Devices: append(dev("/dev/fuse"), dev("/dev/null")...)},
			p: Policy{AllowedDevices: ptr([]string{"/dev/fuse"})}, want: []string{"allowed_devices"}},
		{name: "prefix", svc: ServiceSpec{Devices: dev("/dev/snd/controlC0")},
			p: Policy{AllowedDevices: ptr([]string{"/dev/snd/*"})}},
		{name: "star", svc: ServiceSpec{Devices: dev("/dev/kvm")},
			p: Policy{AllowedDevices: ptr([]string{"*"})}},
		{name: "no oom rule: any score", svc: ServiceSpec{OOMScoreAdj: -1000}},
		{name: "oom score at the minimum", svc: ServiceSpec{OOMScoreAdj: 0},
			p: Policy{MinOOMScoreAdj: ptr(0)}},
		{name: "oom score raised", svc: ServiceSpec{OOMScoreAdj: 500},
			p: Policy{MinOOMScoreAdj: ptr(0)}},
		{name: "oom score below the minimum", svc: ServiceSpec{OOMScoreAdj: -500},
			p: Policy{MinOOMScoreAdj: ptr(-100)}, want: []string{"min_oom_score_adj"}},
		{name: "cpu_quota over cpu_period judged as CPUs", svc: ServiceSpec{CPUQuota: 300000, CPUPeriod: 100000},
			p: Policy{MaxPerService: Limits{CPUs: ptr(2.0)}}, want: []string{"max_per_service.cpus"}},
		{name: "cpu_quota within the maximum", svc: ServiceSpec{CPUQuota: 50000},
			p: Policy{MaxPerService: Limits{CPUs: ptr(1.0)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := judge(t, tc.svc, tc.p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("denied by %v, want %v", got, tc.want)
			}
		})
	}
}

// A device is judged, and then given, by its resolved path: a symlink to
// a denied device is denied as that device, and an allowed one is given
// at the path the user named.
func TestPolicyDeviceSymlinkResolved(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "by-id-disk")
	if err := os.Symlink("/dev/null", link); err != nil {
		t.Fatal(err)
	}
	plan := &PodPlan{Name: "p", Services: []ServiceSpec{{Name: "web", Image: "busybox", Devices: []DeviceSpec{{Source: link, Target: link, Permissions: "r"}}}}}
	vs := Check(plan, Policy{AllowedDevices: ptr([]string{dir + "/*"})})
	if len(vs) != 1 || vs[0].Field != "devices[0]" || !strings.Contains(vs[0].Msg, "device /dev/null ("+link+" resolved) is not allowed") {
		t.Errorf("violations: %+v", vs)
	}
	plan.Services[0].Devices = []DeviceSpec{{Source: link, Target: link, Permissions: "r"}}
	if vs := Check(plan, Policy{AllowedDevices: ptr([]string{"/dev/null"})}); len(vs) != 0 {
		t.Fatalf("violations: %+v", vs)
	}
	want := DeviceSpec{Source: "/dev/null", Target: link, Permissions: "r"}
	if got := plan.Services[0].Devices[0]; got != want {
		t.Errorf("device after the check = %+v, want %+v", got, want)
	}
}

// The executor's default policy refuses devices and a negative
// oom_score_adj, naming the service and the field.
func TestDefaultExecutorPolicyRefusesDevicesAndOOMScore(t *testing.T) {
	plan := &PodPlan{Name: "p", Services: []ServiceSpec{{Name: "web", Image: "busybox", OOMScoreAdj: -10,
		Devices: []DeviceSpec{{Source: "/dev/fuse", Target: "/dev/fuse", Permissions: "rwm"}}}}}
	vs := Check(plan, DefaultExecutorPolicy("/sandbox"))
	var got []string
	for _, v := range vs {
		got = append(got, v.Field+": "+v.Msg)
	}
	want := []string{
		"devices[0]: device /dev/fuse is not allowed (no devices are allowed)",
		"oom_score_adj: -10 is below the minimum of 0: the service would outlive other processes of the host when memory runs out",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("violations:\n%q\nwant\n%q", got, want)
	}
}

func TestPolicyDeviceSpelling(t *testing.T) {
	_, err := ParsePolicy([]byte("allowed_devices: [/dev/fuse, /dev/snd/*, \"*\", dev/kvm, \"/dev/*/x\"]\nmin_oom_score_adj: -2000\n"))
	for _, want := range []string{`allowed_devices[3]: "dev/kvm"`, `allowed_devices[4]: "/dev/*/x"`, "min_oom_score_adj: -2000 is out of range"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "allowed_devices[0]") || strings.Contains(err.Error(), "allowed_devices[1]") || strings.Contains(err.Error(), "allowed_devices[2]") {
		t.Errorf("valid entries refused: %v", err)
	}
}

// CDI devices (GPUs) are judged by their names in allowed_devices.
func TestPolicyCDIDevices(t *testing.T) {
	plan := &PodPlan{Name: "p", Services: []ServiceSpec{{Name: "train", Image: "t", CDIDevices: []string{"nvidia.com/gpu=0", "vendor.example/fpga=card1"}}}}
	vs := Check(plan, DefaultExecutorPolicy("/sandbox"))
	if len(vs) != 2 || !strings.Contains(vs[0].Msg, "CDI device nvidia.com/gpu=0 is not allowed") {
		t.Errorf("default policy: %+v", vs)
	}
	p, err := ParsePolicy([]byte("allowed_devices: [\"nvidia.com/gpu=*\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	vs = Check(plan, p)
	if len(vs) != 1 || !strings.Contains(vs[0].Msg, "vendor.example/fpga=card1 is not allowed (allowed: nvidia.com/gpu=*)") {
		t.Errorf("nvidia.com/gpu=* allowed: %+v", vs)
	}
}
