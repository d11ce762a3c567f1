package cgroups

import "testing"

func TestMesosParent(t *testing.T) {
	const cid = "7f3e3b4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b"
	for name, tc := range map[string]struct{ in, want string }{
		"v1": {`12:pids:/mesos/` + cid + `
11:memory:/mesos/` + cid + `
10:cpu,cpuacct:/mesos/` + cid + `
9:devices:/mesos/` + cid + `
1:name=systemd:/system.slice/mesos-agent.service
`, "/mesos/" + cid},
		"v1 only cpu isolated": {`11:memory:/mesos/` + cid + `
4:cpu,cpuacct:/mesos/` + cid + `
1:name=systemd:/system.slice/mesos-agent.service`, "/mesos/" + cid},
		"v1 nested": {`11:memory:/mesos/` + cid + `/mesos/child-1
10:cpu,cpuacct:/mesos/` + cid + `/mesos/child-1
`, "/mesos/" + cid + "/mesos/child-1"},
		"hybrid": {`12:memory:/mesos/` + cid + `
11:cpu,cpuacct:/mesos/` + cid + `
1:name=systemd:/system.slice/mesos-agent.service
0::/system.slice/mesos-agent.service
`, "/mesos/" + cid},
		"v2":         {"0::/mesos/" + cid + "/leaf\n", "/mesos/" + cid},
		"v2 nested":  {"0::/mesos/" + cid + "/mesos/child-1/leaf\n", "/mesos/" + cid + "/mesos/child-1"},
		"v2 no leaf": {"0::/mesos/" + cid + "\n", "/mesos/" + cid},
		"custom cgroups_root": {`11:memory:/mesos-prod/` + cid + `
10:cpu,cpuacct:/mesos-prod/` + cid + `
`, ""},
		"v1 under a slice": {`11:memory:/system.slice/mesos/` + cid + `
`, "/system.slice/mesos/" + cid},
		"posix isolation v1": {`12:memory:/system.slice/mesos-agent.service
11:cpu,cpuacct:/system.slice/mesos-agent.service
1:name=systemd:/system.slice/mesos-agent.service
0::/system.slice/mesos-agent.service
`, ""},
		"by hand v1": {`11:memory:/user.slice
10:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/user-0.slice/session-1.scope
`, ""},
		"by hand v2": {"0::/user.slice/user-0.slice/session-3.scope\n", ""},
		"root":       {"0::/\n", ""},
		"mesos agent itself": {`11:memory:/mesos
0::/mesos
`, ""},
		"empty": {"", ""},
	} {
		got, err := MesosParent(tc.in)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", name, got, tc.want)
		}
	}
	if _, err := MesosParent("garbage\n"); err == nil {
		t.Error("malformed: want an error")
	}
}
