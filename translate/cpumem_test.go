package translate

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Values of the CPU, memory, group, device and tmpfs settings that
// compod refuses, as docker does: each error names the file, the service
// and the field, and says what to write instead.
func TestCPUMemoryDevicesRejected(t *testing.T) {
	tests := []struct {
		name, service, field, msg string
	}{
		{name: "cpu_shares below the kernel's minimum", service: "    cpu_shares: 1\n",
			field: "cpu_shares", msg: "below the kernel's minimum of 2"},
		{name: "cpuset not a list", service: "    cpuset: \"0-a\"\n",
			field: "cpuset", msg: `"0-a" is not a list of CPUs`},
		{name: "cpuset range backwards", service: "    cpuset: \"3-1\"\n",
			field: "cpuset", msg: "is not a list of CPUs"},
		{name: "cpus and cpu_quota", service: "    cpus: 0.5\n    cpu_quota: 50000\n",
			field: "cpu_quota", msg: "conflicts with cpus (0.5)"},
		{name: "cpus and cpu_period", service: "    cpus: 0.5\n    cpu_period: 50000\n",
			field: "cpu_period", msg: "conflicts with cpus (0.5)"},
		{name: "cpu_period too short", service: "    cpu_period: 500\n",
			field: "cpu_period", msg: "500µs is out of range: the CFS period is 1000 to 1000000 µs"},
		{name: "cpu_quota too small", service: "    cpu_quota: 10\n",
			field: "cpu_quota", msg: "below the minimum of 1000µs (or -1 for no quota)"},
		{name: "mem_reservation above mem_limit", service: "    mem_limit: 64m\n    mem_reservation: 128m\n",
			field: "mem_reservation", msg: "is more than the memory limit"},
		{name: "memswap_limit without mem_limit", service: "    memswap_limit: 1g\n",
			field: "memswap_limit", msg: "needs a memory limit"},
		{name: "memswap_limit below mem_limit", service: "    mem_limit: 1g\n    memswap_limit: 512m\n",
			field: "memswap_limit", msg: "must be at least mem_limit"},
		{name: "mem_swappiness above 100", service: "    mem_swappiness: 101\n",
			field: "mem_swappiness", msg: "101 is out of range: use 0 to 100"},
		// compose-go's schema refuses it first, with its own words.
		{name: "oom_score_adj below -1000", service: "    oom_score_adj: -1001\n",
			field: "oom_score_adj", msg: ""},
		{name: "group_add with a colon", service: "    group_add: [\"a:b\"]\n",
			field: "group_add[0]", msg: `"a:b" is not a group name or id`},
		{name: "device source relative", service: "    devices: [\"dev/fuse\"]\n",
			field: "devices[0]", msg: `source "dev/fuse" is not an absolute path`},
		{name: "device target relative", service: "    devices: [\"/dev/fuse:fuse:rw\"]\n",
			field: "devices[0]", msg: `target "fuse" is not an absolute path`},
		{name: "device permissions", service: "    devices: [\"/dev/fuse:/dev/fuse:rx\"]\n",
			field: "devices[0]", msg: `permissions "rx": use some of r (read), w (write) and m (mknod)`},
		{name: "tmpfs mode not octal", service: "    tmpfs: [\"/run:mode=0789\"]\n",
			field: "tmpfs[0]", msg: `tmpfs mode "0789" is not a file mode`},
		{name: "tmpfs uid not numeric", service: "    tmpfs: [\"/run:uid=app\"]\n",
			field: "tmpfs[0]", msg: `tmpfs uid "app" is not a numeric id`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeProject(t, map[string]string{"compose.yaml": limitsService + tt.service})
			plan, err := Load(context.Background(), LoadOptions{Files: []string{filepath.Join(dir, "compose.yaml")}, Environ: map[string]string{}})
			if err == nil {
				t.Fatalf("Load succeeded, want an error; plan: %+v", plan)
			}
			want := `compose.yaml: service "web": field "` + tt.field + `": `
			for _, e := range allErrors(err) {
				if strings.HasPrefix(e.Error(), want) && strings.Contains(e.Msg, tt.msg) {
					return
				}
			}
			t.Errorf("no error reads %q…%q; got:\n%v", want, tt.msg, err)
		})
	}
}

// docker's spellings that mean the same device.
func TestDeviceSyntax(t *testing.T) {
	for _, tc := range []struct {
		device string
		want   DeviceSpec
	}{
		{"/dev/fuse", DeviceSpec{Source: "/dev/fuse", Target: "/dev/fuse", Permissions: "rwm"}},
		{"/dev/fuse:r", DeviceSpec{Source: "/dev/fuse", Target: "/dev/fuse", Permissions: "r"}},
		{"/dev/zero:/dev/myzero", DeviceSpec{Source: "/dev/zero", Target: "/dev/myzero", Permissions: "rwm"}},
		{"/dev/zero:/dev/myzero:rw", DeviceSpec{Source: "/dev/zero", Target: "/dev/myzero", Permissions: "rw"}},
		{"/dev/snd/", DeviceSpec{Source: "/dev/snd", Target: "/dev/snd", Permissions: "rwm"}},
	} {
		t.Run(tc.device, func(t *testing.T) {
			plan, err := loadOne(t, limitsService+"    devices: [\""+tc.device+"\"]\n")
			if err != nil {
				t.Fatal(err)
			}
			if got := plan.Services[0].Devices; !reflect.DeepEqual(got, []DeviceSpec{tc.want}) {
				t.Errorf("devices = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// The CPU limit the admission policy judges: cpus, or quota over period.
func TestEffectiveCPUs(t *testing.T) {
	for _, tc := range []struct {
		s    ServiceSpec
		want float64
	}{
		{ServiceSpec{}, 0},
		{ServiceSpec{CPUs: 1.5}, 1.5},
		{ServiceSpec{CPUQuota: 50000}, 0.5},
		{ServiceSpec{CPUQuota: 25000, CPUPeriod: 50000}, 0.5},
		{ServiceSpec{CPUQuota: -1, CPUPeriod: 50000}, 0},
		{ServiceSpec{CPUPeriod: 50000}, 0},
	} {
		if got := tc.s.EffectiveCPUs(); got != tc.want {
			t.Errorf("%+v: EffectiveCPUs() = %g, want %g", tc.s, got, tc.want)
		}
	}
}
