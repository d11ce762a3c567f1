package translate

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary compose files (one, or a base and an override)
// to Load. Whatever the bytes, Load must return either an error that names
// one of the given files, or a plan the runtime can execute without
// checking it again: that is the promise of translate's "validated
// PodPlan". Run it with `make fuzz` or
//
//	go test -run '^$' -fuzz '^FuzzLoad$' -fuzztime 30s ./translate
func FuzzLoad(f *testing.F) {
	// The project directory holds the files the golden cases refer to
	// (env_file, label_file, bind sources), so that the seeds load and the
	// fuzzer starts from valid plans rather than from "file not found".
	dir := filepath.Join(f.TempDir(), "pod")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		f.Fatal(err)
	}
	cases, err := filepath.Glob("testdata/*")
	if err != nil {
		f.Fatal(err)
	}
	// The corpus of real-world-shaped files seeds too.
	corpus, err := filepath.Glob("testdata/corpus/*/compose.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range corpus {
		cases = append(cases, filepath.Dir(c))
	}
	for _, c := range cases {
		ents, err := os.ReadDir(c)
		if err != nil {
			f.Fatal(err)
		}
		var yamls []string
		for _, e := range ents {
			name := e.Name()
			switch {
			case e.IsDir(), strings.HasSuffix(name, ".json"):
			case strings.HasSuffix(name, ".yaml"):
				b, err := os.ReadFile(filepath.Join(c, name))
				if err != nil {
					f.Fatal(err)
				}
				yamls = append(yamls, string(b))
				f.Add(string(b), "")
			case name == ".env":
				// A .env in the project directory would apply to every
				// input; the fuzzer's files are the only input.
			default:
				b, err := os.ReadFile(filepath.Join(c, name))
				if err != nil {
					f.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
					f.Fatal(err)
				}
			}
		}
		// Multi-file cases: merge every file onto the first.
		for i := 1; i < len(yamls); i++ {
			f.Add(yamls[0], yamls[i])
		}
	}
	for _, seed := range [][2]string{
		{"services:\n  web:\n    image: web\n", ""},
		{"services:\n  web:\n    image: web\n", "services:\n  web:\n    ports: [\"8080-8081:80-81/udp\", \"9000\"]\n"},
		{"name: p\nservices:\n  a:\n    image: a\n    depends_on: [b]\n  b:\n    image: b\n    depends_on: [a]\n", ""},
		{"services:\n  a:\n    image: a:${TAG:-1}\n    cpus: ${CPUS}\n    mem_limit: 1g\n    healthcheck:\n      test: [CMD-SHELL, \"true\"]\n      retries: 3\n", ""},
		{"services:\n  a:\n    image: a\n    ports:\n      - target: 80\n        published: \"8080\"\n        protocol: sctp\n", ""},
		{"services:\n  a:\n    image: a\n    volumes: [\"v:/v\", \"/anon\", \"./data:/d:ro\"]\n    tmpfs: [\"/t:size=1m\"]\nvolumes:\n  v: {}\n", ""},
		{"services:\n  a:\n    image: a\n    extra_hosts: [\"h=10.0.0.1\"]\n    dns: [10.0.0.2]\n    hostname: h\n    stop_signal: SIGUSR1\n    stop_grace_period: 3s\n    restart: on-failure:2\n", ""},
		{"services: []\n", ""},
		{"", ""},
	} {
		f.Add(seed[0], seed[1])
	}

	base, override := filepath.Join(dir, "compose.yaml"), filepath.Join(dir, "override.yaml")
	// Interpolation reads only this environment: the result must not
	// depend on the environment of whoever runs the fuzzer.
	environ := map[string]string{"TAG": "2", "CPUS": "0.5"}
	f.Fuzz(func(t *testing.T, baseYAML, overrideYAML string) {
		// A compose file may name any host file (env_file, extends,
		// include). Reading a device or a proc file says nothing about
		// the translator and can block the fuzzer (/dev/stdin, /dev/zero).
		for _, s := range []string{baseYAML, overrideYAML} {
			for _, p := range []string{"/dev", "/proc", "/sys"} {
				if strings.Contains(s, p) {
					t.Skip("names a special file system")
				}
			}
		}
		opts := LoadOptions{Files: []string{base}, Environ: environ}
		names := []string{"compose.yaml"}
		if err := os.WriteFile(base, []byte(baseYAML), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(override)
		if overrideYAML != "" {
			if err := os.WriteFile(override, []byte(overrideYAML), 0o644); err != nil {
				t.Fatal(err)
			}
			opts.Files = append(opts.Files, override)
			names = append(names, "override.yaml")
		}

		plan, err := Load(context.Background(), opts)
		if err != nil {
			// A problem of a file the given ones include names that file.
			var included []string
			idx := newFileIndex(dir, opts.Files)
			for _, f := range idx.files {
				if n := idx.display(f); !slices.Contains(names, n) {
					included = append(included, n)
				}
			}
			checkLoadError(t, err, names, included...)
			return
		}
		checkPlan(t, plan)

		// The plan is saved (pod record) and read back by later commands:
		// it must survive JSON unchanged.
		data, err := json.Marshal(plan)
		if err != nil {
			t.Fatalf("plan cannot be saved as JSON: %v\n%+v", err, plan)
		}
		var back PodPlan
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("saved plan cannot be read back: %v", err)
		}
		if !reflect.DeepEqual(&back, plan) {
			t.Fatalf("plan changed through JSON:\n%+v\n%+v", plan, &back)
		}

		// The same files give the same plan (warnings included): plans are
		// golden-tested and compared across executor restarts.
		again, err := Load(context.Background(), opts)
		if err != nil {
			t.Fatalf("second Load of the same files failed: %v", err)
		}
		if !reflect.DeepEqual(again, plan) {
			t.Fatalf("Load is not deterministic:\n%+v\n%+v", plan, again)
		}
	})
}

// checkLoadError asserts that every problem of a failed Load names one of
// the files, or a file they include (the user must know which file to fix).
func checkLoadError(t *testing.T, err error, files []string, included ...string) {
	t.Helper()
	leaves := Problems(err)
	all := strings.Join(files, ", ")
	files = append(slices.Clone(files), included...)
	for _, leaf := range leaves {
		var e *Error
		if !errors.As(leaf, &e) {
			t.Fatalf("error %q (%T) does not name a file", leaf, leaf)
		}
		if !slices.Contains(files, e.File) && e.File != all {
			t.Fatalf("error %q names file %q, want one of %v", leaf, e.File, files)
		}
		if e.Msg == "" {
			t.Fatalf("error %q has no message", leaf)
		}
		// Fields read the way users index lists: ports[0].
		if strings.Contains(e.Field, ".[") || strings.Contains(e.Field, "[]") {
			t.Fatalf("error %q: field %q", leaf, e.Field)
		}
	}
}

// checkPlan asserts what the runtime relies on without checking again.
func checkPlan(t *testing.T, plan *PodPlan) {
	t.Helper()
	if err := ValidatePodName(plan.Name); err != nil {
		t.Fatalf("plan name: %v", err)
	}
	if len(plan.Services) == 0 {
		t.Fatal("plan without services")
	}
	if plan.Hostname == "" {
		t.Fatal("plan without hostname")
	}
	placed := map[string]bool{}
	var ports []PortMapping
	for _, s := range plan.Services {
		if placed[s.Name] {
			t.Fatalf("service %q twice", s.Name)
		}
		if p := serviceNameProblem(plan.Name, s.Name); p != "" {
			t.Fatalf("service name: %s", p)
		}
		if s.Image == "" {
			t.Fatalf("service %q has no image", s.Name)
		}
		// Start order: every dependency comes first.
		for _, d := range s.DependsOn {
			if !placed[d.Service] {
				t.Fatalf("service %q is before its dependency %q", s.Name, d.Service)
			}
			switch d.Condition {
			case "service_started", "service_healthy", "service_completed_successfully":
			default:
				t.Fatalf("service %q: dependency condition %q", s.Name, d.Condition)
			}
		}
		placed[s.Name] = true
		// Empty: the image's STOPSIGNAL applies (runtime).
		if _, err := ParseSignal(s.StopSignal); err != nil {
			t.Fatalf("service %q: stop signal %q: %v", s.Name, s.StopSignal, err)
		}
		if s.StopGracePeriod < 0 {
			t.Fatalf("service %q: stop grace period %v", s.Name, s.StopGracePeriod)
		}
		if s.MemLimit < 0 || s.PidsLimit < 0 || s.CPUs < 0 || math.IsNaN(s.CPUs) || math.IsInf(s.CPUs, 0) {
			t.Fatalf("service %q: limits mem %d pids %d cpus %v", s.Name, s.MemLimit, s.PidsLimit, s.CPUs)
		}
		if s.WorkingDir != "" && !path.IsAbs(s.WorkingDir) {
			t.Fatalf("service %q: working dir %q", s.Name, s.WorkingDir)
		}
		checkRestart(t, s)
		checkHealthcheck(t, s)
		checkMounts(t, plan, s)
		for _, p := range s.Ports {
			if p.Service != s.Name {
				t.Fatalf("service %q has a port of %q", s.Name, p.Service)
			}
			if p.Protocol != "tcp" && p.Protocol != "udp" {
				t.Fatalf("service %q: port protocol %q", s.Name, p.Protocol)
			}
			if p.ContainerPort == 0 {
				t.Fatalf("service %q: container port 0", s.Name)
			}
			if p.HostIP != "" && net.ParseIP(p.HostIP) == nil {
				t.Fatalf("service %q: host IP %q", s.Name, p.HostIP)
			}
		}
		ports = append(ports, s.Ports...)
	}
	// plan.Ports is what host ports are assigned to, in order; the
	// executor writes the k-th back into the k-th port of its service.
	if !reflect.DeepEqual(ports, plan.Ports) && len(ports)+len(plan.Ports) > 0 {
		t.Fatalf("plan ports %v are not the services' ports %v in order", plan.Ports, ports)
	}
	for i, a := range plan.Ports {
		for _, b := range plan.Ports[i+1:] {
			if a.HostPort != 0 && a.HostPort == b.HostPort && a.Protocol == b.Protocol &&
				(a.HostIP == b.HostIP || wildcardIP(a.HostIP) || wildcardIP(b.HostIP)) {
				t.Fatalf("host port %d/%s published twice: %+v %+v", a.HostPort, a.Protocol, a, b)
			}
		}
	}
	volumeNames := make([]string, len(plan.Volumes))
	for i, v := range plan.Volumes {
		volumeNames[i] = v.Name
		// A volume's host name is a directory name under the volumes dir.
		if v.HostName != "" && (strings.ContainsAny(v.HostName, "/\x00") || v.HostName == "." || v.HostName == "..") {
			t.Fatalf("volume %q: host name %q", v.Name, v.HostName)
		}
	}
	if !slices.IsSorted(volumeNames) || len(slices.Compact(slices.Clone(volumeNames))) != len(volumeNames) {
		t.Fatalf("volumes %v are not sorted and unique", plan.Volumes)
	}
	for _, s := range plan.DNS.Servers {
		if net.ParseIP(s) == nil {
			t.Fatalf("DNS server %q", s)
		}
	}
	for _, h := range plan.ExtraHosts {
		if net.ParseIP(h.IP) == nil && h.IP != HostGateway {
			t.Fatalf("extra host %q: IP %q", h.Host, h.IP)
		}
	}
}

func checkRestart(t *testing.T, s ServiceSpec) {
	t.Helper()
	name, max, hasMax := strings.Cut(s.Restart, ":")
	switch {
	case s.Restart == "", !hasMax && (name == "no" || name == "always" || name == "unless-stopped" || name == "on-failure"):
		return
	case hasMax && name == "on-failure":
		if n, err := strconv.Atoi(max); err == nil && n >= 0 {
			return
		}
	}
	t.Fatalf("service %q: restart %q", s.Name, s.Restart)
}

func checkHealthcheck(t *testing.T, s ServiceSpec) {
	t.Helper()
	hc := s.Healthcheck
	if hc == nil || len(hc.Test) == 0 {
		return // the image's healthcheck, or none
	}
	if hc.Test[0] == "" {
		t.Fatalf("service %q: empty healthcheck command", s.Name)
	}
	if hc.Interval <= 0 || hc.Timeout <= 0 || hc.StartInterval <= 0 || hc.StartPeriod < 0 || hc.Retries < 0 {
		t.Fatalf("service %q: healthcheck timings %+v", s.Name, hc)
	}
}

func checkMounts(t *testing.T, plan *PodPlan, s ServiceSpec) {
	t.Helper()
	targets := map[string]bool{}
	for _, m := range s.Mounts {
		if !path.IsAbs(m.Target) {
			t.Fatalf("service %q: mount target %q", s.Name, m.Target)
		}
		if targets[m.Target] {
			t.Fatalf("service %q: %q mounted twice", s.Name, m.Target)
		}
		targets[m.Target] = true
		switch m.Type {
		case "bind":
			if !filepath.IsAbs(m.Source) {
				t.Fatalf("service %q: bind source %q", s.Name, m.Source)
			}
		case "volume":
			if !slices.ContainsFunc(plan.Volumes, func(v VolumeSpec) bool { return v.Name == m.Source }) {
				t.Fatalf("service %q: volume %q not among the pod's %v", s.Name, m.Source, plan.Volumes)
			}
		case "tmpfs":
			if m.TmpfsSize < 0 {
				t.Fatalf("service %q: tmpfs size %d", s.Name, m.TmpfsSize)
			}
		default:
			t.Fatalf("service %q: mount type %q", s.Name, m.Type)
		}
	}
}
