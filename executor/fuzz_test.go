package executor

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
	"go.yaml.in/yaml/v4"

	"github.com/compod/compod/runtime"
	"github.com/compod/compod/translate"
)

// The fuzz targets of this file cover what a framework (any user who can
// submit a task) or the agent controls: TaskInfo labels, port resources
// and the executor's environment, plus the operator's config file. Run one
// with `make fuzz` or, e.g.,
//
//	go test -run '^$' -fuzz '^FuzzComposeFiles$' -fuzztime 30s ./executor
//
// Inputs that once failed are kept in testdata/fuzz/<target>/ (Go's
// format); plain `go test` runs them with the seeds below.

// FuzzComposeFiles: whatever the labels say, the compose files compod reads
// are regular files inside the sandbox, named by the label in its order.
func FuzzComposeFiles(f *testing.F) {
	top := f.TempDir()
	sandbox := filepath.Join(top, "sandbox")
	outside := filepath.Join(top, "outside.yml")
	for name, content := range map[string]string{
		outside:                                  "services: {}\n",
		filepath.Join(sandbox, "a.yml"):          "services: {}\n",
		filepath.Join(sandbox, "b.yml"):          "services: {}\n",
		filepath.Join(sandbox, "app", "c.yml"):   "services: {}\n",
		filepath.Join(sandbox, "dir", "d.yml"):   "services: {}\n",
		filepath.Join(sandbox, "with space.yml"): "services: {}\n",
	} {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	// Fetched archives may hold symlinks; one that leads out of the sandbox
	// must not let a task read a host file.
	for link, target := range map[string]string{
		"out.yml":      "../outside.yml",
		"abs.yml":      outside,
		"in.yml":       "a.yml",
		"app/up.yml":   "../b.yml",
		"loop.yml":     "loop.yml",
		"dangling.yml": "missing.yml",
	} {
		if err := os.Symlink(target, filepath.Join(sandbox, link)); err != nil {
			f.Fatal(err)
		}
	}
	for _, seed := range [][2]string{
		{"a.yml", ""},
		{"a.yml,b.yml", ""},
		{" a.yml , app/c.yml ,", "b.yml"},
		{"", "a.yml,b.yml"},
		{"  ", "app/c.yml"},
		{"./a.yml,app/../b.yml", ""},
		{"app/../../outside.yml", ""},
		{outside, ""},
		{"abs.yml", ""},
		{"in.yml,app/up.yml", ""},
		{"loop.yml", ""},
		{"dangling.yml", ""},
		{"dir", ""},
		{"a.yml/", ""},
		{"missing.yml", ""},
		{",,,", ""},
		{"with space.yml", ""},
		{"", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	realSandbox, err := filepath.EvalSymlinks(sandbox)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, fileName, files string) {
		info := mesos.TaskInfo{TaskID: mesos.TaskID{Value: "t"}, Labels: &mesos.Labels{Labels: []mesos.Label{
			label(LabelFileName, fileName), label(LabelFiles, files),
		}}}
		key, value := LabelFileName, fileName
		if strings.TrimSpace(fileName) == "" {
			key, value = LabelFiles, files
		}
		got, err := ComposeFiles(info, sandbox)
		if err != nil {
			// The user must learn which label to fix.
			if !strings.Contains(err.Error(), strconv.Quote(key)) {
				t.Fatalf("error %q does not name the label %q", err, key)
			}
			return
		}
		var want []string
		for _, s := range strings.Split(value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				want = append(want, filepath.Join(sandbox, s))
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("label %s=%q gave files %q, want %q", key, value, got, want)
		}
		for _, p := range got {
			if rel, err := filepath.Rel(sandbox, p); err != nil || !filepath.IsLocal(rel) {
				t.Fatalf("label %s=%q: %s is outside the sandbox %s", key, value, p, sandbox)
			}
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				t.Fatalf("label %s=%q: %s: %v", key, value, p, err)
			}
			if rel, err := filepath.Rel(realSandbox, real); err != nil || !filepath.IsLocal(rel) {
				t.Fatalf("label %s=%q: %s leads to %s, outside the sandbox", key, value, p, real)
			}
			if fi, err := os.Stat(real); err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("label %s=%q: %s is not a regular file (%v)", key, value, p, err)
			}
		}
	})
}

// FuzzParseTaskOverrides: a label is either taken as written or rejected
// with an error that names it and its value.
func FuzzParseTaskOverrides(f *testing.F) {
	for _, seed := range [][2]string{
		{"always", "2mins"}, {"never", "90s"}, {"missing", "1.5hrs"}, {"", ""},
		{"sometimes", ""}, {"", "soon"}, {"", "0secs"}, {"", "-1s"}, {"Always", " 5secs "},
		{"", "NaNsecs"}, {"", "9223372036854775808ns"}, {"", "1e400secs"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, pull, timeout string) {
		o, err := ParseTaskOverrides(withLabels(LabelPull, pull, LabelLaunchTimeout, timeout))
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(LabelPull)) && !strings.Contains(err.Error(), strconv.Quote(LabelLaunchTimeout)) {
				t.Fatalf("error %q names no label", err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(pull)) && !strings.Contains(err.Error(), strconv.Quote(timeout)) {
				t.Fatalf("error %q does not quote the value", err)
			}
			return
		}
		switch {
		case strings.TrimSpace(pull) == "" && o.Pull != "":
			t.Fatalf("no pull label, pull %q", o.Pull)
		case strings.TrimSpace(pull) != "" && o.Pull != pull:
			t.Fatalf("pull label %q, pull %q", pull, o.Pull)
		}
		switch o.Pull {
		case "", runtime.PullMissing, runtime.PullAlways, runtime.PullNever:
		default:
			t.Fatalf("pull %q accepted", o.Pull)
		}
		if strings.TrimSpace(timeout) == "" {
			if o.LaunchTimeout != 0 {
				t.Fatalf("no timeout label, timeout %v", o.LaunchTimeout)
			}
			return
		}
		if d, err := ParseDuration(timeout); err != nil || o.LaunchTimeout != d || d <= 0 {
			t.Fatalf("timeout label %q gave %v (ParseDuration: %v, %v)", timeout, o.LaunchTimeout, d, err)
		}
	})
}

// FuzzParseDuration: a duration is never negative, and what Duration
// writes (Go notation) reads back to the same value.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{
		"5secs", "15mins", "100ms", "1.5days", "2weeks", "3hrs", "10us", "7ns",
		"30s", "1m30s", "1h", "0", "0secs", " 5secs ", "5 secs",
		"-1secs", "-1s", "infsecs", "1e400secs", "0x1p4secs",
		"9223372036854775808ns", "106751.99116730065days",
		"123.456789ms", "", "secs", "5", "5 weeks ago",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if d != 0 {
				t.Fatalf("%q: error %v with duration %v", s, err, d)
			}
			return
		}
		if d < 0 {
			t.Fatalf("%q parsed as negative duration %v", s, d)
		}
		text, err := Duration(d).MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := back.UnmarshalText(text); err != nil || time.Duration(back) != d {
			t.Fatalf("%q = %v, written %q, read back as %v (%v)", s, d, text, time.Duration(back), err)
		}
	})
}

// FuzzPodName: every task id gives a valid pod name, always the same one,
// and different task ids (of one framework) or frameworks give different
// pods.
func FuzzPodName(f *testing.F) {
	for _, seed := range [][3]string{
		{"fw-0001", "web.1234", "web-1234"},
		{"fw", "a.b", "a_b"},
		{"4a0f-0000", "app_web.8d2c1f3e-5b7a-11ee-8c99-0242ac120002", "app_web.8d2c1f3e-5b7a-11ee-8c99-0242ac120003"},
		{"", "", "-"},
		{"fw", "../../etc", "..."},
		{"fw", "UPPER case", "upper-case"},
		{"fw", strings.Repeat("x", 200), strings.Repeat("x", 201)},
		{"fw", "ünïcödé", "日本"},
		{"fw", "web", "web-4f3c2a1b"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, framework, task, other string) {
		name := PodName(framework, task)
		if err := translate.ValidatePodName(name); err != nil {
			t.Fatalf("PodName(%q, %q) = %q: %v", framework, task, name, err)
		}
		if again := PodName(framework, task); again != name {
			t.Fatalf("PodName(%q, %q) is %q, then %q", framework, task, name, again)
		}
		// Operators find a task's pod by its id: a short id that is
		// already a valid name is kept, with the hash after it.
		if len(task) <= maxPodName-9 && translate.ValidatePodName(task) == nil {
			if !strings.HasPrefix(name, task+"-") || len(name) != len(task)+9 {
				t.Fatalf("PodName(%q, %q) = %q, want %s-<8 hex digits>", framework, task, name, task)
			}
		}
		if other != task && PodName(framework, other) == name {
			t.Fatalf("tasks %q and %q share the pod %q", task, other, name)
		}
		if other != framework && PodName(other, task) == name {
			t.Fatalf("task %q of frameworks %q and %q share the pod %q", task, framework, other, name)
		}
	})
}

// FuzzHostPorts: the host ports of a task's "ports" resources, however the
// ranges are written, are handed out in order, each at most once, and only
// ports the task was given are used.
func FuzzHostPorts(f *testing.F) {
	// The ranges are varints, begin and end: short for real ports, and
	// able to say what a protobuf uint64 can.
	enc := func(ranges ...uint64) []byte {
		var b []byte
		for _, v := range ranges {
			b = binary.AppendUvarint(b, v)
		}
		return b
	}
	for _, seed := range [][]uint64{
		{31000, 31005},
		{31005, 31006, 31000, 31000, 65535, 65535},
		{65530, math.MaxUint64},          // past the last port
		{40000, 30000},                   // reversed
		{math.MaxUint64, math.MaxUint64}, // nothing valid
		{1, 65535},                       // every port
	} {
		for _, n := range []uint8{0, 1, 3, 20} {
			f.Add(enc(seed...), n)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, published uint8) {
		// Ranges alternate between two "ports" resources; a resource of
		// another name with the same ranges must be ignored.
		ports := []mesos.Resource{portsResource(), portsResource()}
		other := portsResource()
		other.Name = "cpus"
		var ranges [][2]uint64
		for i := 0; ; i++ {
			b, n := binary.Uvarint(data)
			if n <= 0 {
				break
			}
			e, m := binary.Uvarint(data[n:])
			if m <= 0 {
				break
			}
			data = data[n+m:]
			rg := mesos.Value_Range{Begin: b, End: e}
			ports[i%2].Ranges.Range = append(ports[i%2].Ranges.Range, rg)
			other.Ranges.Range = append(other.Ranges.Range, mesos.Value_Range{Begin: 1, End: 65535})
			ranges = append(ranges, [2]uint64{b, e})
		}
		offered := OfferedPorts([]mesos.Resource{other, ports[0], ports[1]})

		var inRange [65536]bool
		want := 0
		for _, rg := range ranges {
			for p := rg[0]; p <= rg[1] && p <= 65535; p++ {
				if p != 0 && !inRange[p] {
					inRange[p] = true
					want++
				}
			}
		}
		seen := map[uint16]bool{}
		for _, p := range offered {
			if p == 0 || !inRange[p] || seen[p] {
				t.Fatalf("ranges %v offer %v: port %d is 0, outside the ranges or listed twice", ranges, offered, p)
			}
			seen[p] = true
		}
		if len(offered) != want {
			t.Fatalf("ranges %v hold %d ports, offered %d", ranges, want, len(offered))
		}

		pub := make([]translate.PortMapping, published)
		for i := range pub {
			pub[i] = translate.PortMapping{Service: fmt.Sprintf("s%d", i%3), ContainerPort: uint16(i + 1), HostPort: uint16(i * 7), Protocol: []string{"", "tcp", "udp"}[i%3]}
		}
		got, err := AssignHostPorts(pub, offered, nil)
		if len(pub) > len(offered) {
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("only %d host port(s)", len(offered))) {
				t.Fatalf("%d published ports, %d offered: error %v", len(pub), len(offered), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%d published ports, %d offered: %v", len(pub), len(offered), err)
		}
		if len(got) != len(pub) {
			t.Fatalf("%d published ports, %d assigned", len(pub), len(got))
		}
		used := map[uint16]bool{}
		for i, p := range got {
			want := pub[i]
			want.HostPort = offered[i]
			if want.Protocol == "" {
				want.Protocol = "tcp"
			}
			if p != want {
				t.Fatalf("port %d: assigned %+v, want %+v", i, p, want)
			}
			if used[p.HostPort] {
				t.Fatalf("host port %d assigned twice: %+v", p.HostPort, got)
			}
			used[p.HostPort] = true
		}
	})
}

// FuzzParseEnv: the agent's environment is either accepted with usable
// values or rejected with every problem named.
func FuzzParseEnv(f *testing.F) {
	type env = [8]string // endpoint, framework, executor, sandbox, directory, checkpoint, recovery, grace
	for _, seed := range []env{
		{"127.0.0.1:5051", "fw", "ex", "/mnt/mesos/sandbox", "/var/lib/mesos/slaves/x", "1", "15mins", "5secs"},
		{"agent:5051", "fw", "ex", "", "/sandbox", "0", "", ""},
		{"http://agent:5051/api", "fw", "ex", "/s", "", "true", "NaNsecs", "-1secs"},
		{"", "", "", "", "", "maybe", "soon", "9223372036854775808ns"},
		{"a:1", "fw", "ex", "/s", "/d", "", "", "1.5days"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3], seed[4], seed[5], seed[6], seed[7])
	}
	f.Fuzz(func(t *testing.T, endpoint, framework, executor, sandbox, directory, checkpoint, recovery, grace string) {
		vars := map[string]string{
			"MESOS_AGENT_ENDPOINT":                 endpoint,
			"MESOS_FRAMEWORK_ID":                   framework,
			"MESOS_EXECUTOR_ID":                    executor,
			"MESOS_SANDBOX":                        sandbox,
			"MESOS_DIRECTORY":                      directory,
			"MESOS_CHECKPOINT":                     checkpoint,
			"MESOS_RECOVERY_TIMEOUT":               recovery,
			"MESOS_SUBSCRIPTION_BACKOFF_MAX":       recovery,
			"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": grace,
		}
		e, err := ParseEnv(func(k string) string { return vars[k] })
		// Problems ParseEnv must name, whatever else is wrong.
		var problems []string
		for _, k := range []string{"MESOS_AGENT_ENDPOINT", "MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID"} {
			if vars[k] == "" {
				problems = append(problems, k)
			}
		}
		if sandbox == "" && directory == "" {
			problems = append(problems, "MESOS_SANDBOX")
		}
		if _, err := ParseDuration(grace); err != nil && grace != "" {
			problems = append(problems, "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD")
		}
		if strings.Contains(endpoint, "/") {
			problems = append(problems, "MESOS_AGENT_ENDPOINT")
		}
		cp, cpErr := strconv.ParseBool(checkpoint)
		if checkpoint != "" && cpErr != nil {
			problems = append(problems, "MESOS_CHECKPOINT")
		}
		if _, err := ParseDuration(recovery); err != nil && recovery != "" && cp {
			problems = append(problems, "MESOS_RECOVERY_TIMEOUT")
		}
		if err != nil {
			for _, p := range problems {
				if !strings.Contains(err.Error(), p) {
					t.Fatalf("error %q does not name %s", err, p)
				}
			}
			return
		}
		if len(problems) > 0 {
			t.Fatalf("environment accepted despite %v: %+v", problems, e)
		}
		if e.AgentEndpoint != endpoint || e.FrameworkID != framework || e.ExecutorID != executor {
			t.Fatalf("ids %+v", e)
		}
		if e.Sandbox == "" || e.Directory == "" || (sandbox != "" && e.Sandbox != sandbox) || (directory != "" && e.Directory != directory) {
			t.Fatalf("sandbox %q, directory %q from %q, %q", e.Sandbox, e.Directory, sandbox, directory)
		}
		if e.Checkpoint != (checkpoint != "" && cp) {
			t.Fatalf("checkpoint %v from %q", e.Checkpoint, checkpoint)
		}
		if e.ShutdownGracePeriod < 0 || e.RecoveryTimeout < 0 || e.SubscriptionBackoffMax < 0 {
			t.Fatalf("negative durations: %+v", e)
		}
		if !e.Checkpoint && (e.RecoveryTimeout != 0 || e.SubscriptionBackoffMax != 0) {
			t.Fatalf("recovery settings without checkpointing: %+v", e)
		}
	})
}

// FuzzParseFile: a config file is accepted only with known keys and
// values compod implements.
func FuzzParseFile(f *testing.F) {
	for _, seed := range []string{
		"",
		"containerd:\n  address: /run/containerd/containerd.sock\n  namespace: compod\nstate_dir: /var/lib/compod\n",
		"cni:\n  conf_dir: /etc/cni/net.d\n  bin_dirs: [/opt/cni/bin, /usr/lib/cni]\nsandbox_image: pause:1\n",
		"unhealthy_policy: report\nplugin_order: [a, b]\nlaunch_timeout: 5mins\npull: never\nterminal_ack_timeout: 10s\nlog_level: DEBUG\n",
		`{"pull": "always", "launch_timeout": "90s", "containerd": {"namespace": "x"}}`,
		"pull: sometimes\n",
		"launch_timeout: -5s\n",
		"state_dirr: /x\n",
		"containerd:\n  adress: /x\n",
		"log_level: trace\n",
		"[1, 2]\n",
		"pull: always\n---\npull: bogus\n",
	} {
		f.Add([]byte(seed))
	}
	known := map[string][]string{
		"containerd": {"address", "namespace"}, "cni": {"conf_dir", "bin_dirs"},
		"state_dir": nil, "netns_dir": nil, "sandbox_image": nil, "unhealthy_policy": nil, "plugin_order": nil,
		"launch_timeout": nil, "pull": nil, "terminal_ack_timeout": nil, "log_level": nil,
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fc, err := ParseFile(data)
		if err != nil {
			return
		}
		switch fc.UnhealthyPolicy {
		case "", "kill", "report":
		default:
			t.Fatalf("unhealthy_policy %q accepted", fc.UnhealthyPolicy)
		}
		switch fc.Pull {
		case "", runtime.PullMissing, runtime.PullAlways, runtime.PullNever:
		default:
			t.Fatalf("pull %q accepted", fc.Pull)
		}
		switch strings.ToLower(fc.LogLevel) {
		case "", "debug", "info", "warn", "error":
		default:
			t.Fatalf("log_level %q accepted", fc.LogLevel)
		}
		if fc.LaunchTimeout < 0 || fc.TerminalAckTimeout < 0 {
			t.Fatalf("negative durations accepted: %+v", fc)
		}
		// A typo must not silently fall back to a default.
		var doc map[string]any
		if yaml.Unmarshal(data, &doc) != nil {
			return
		}
		for k, v := range doc {
			sub, ok := known[k]
			if !ok {
				t.Fatalf("unknown key %q accepted", k)
			}
			if m, isMap := v.(map[string]any); isMap && sub != nil {
				for k2 := range m {
					if !slices.Contains(sub, k2) {
						t.Fatalf("unknown key %s.%s accepted", k, k2)
					}
				}
			}
		}
	})
}
