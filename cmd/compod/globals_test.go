package main

import (
	"slices"
	"testing"
)

// The supervisor's command line carries every global setting: parsed by
// a new command tree (as the supervisor does), it gives back the same
// values, whatever the environment of the process that parses it.
func TestSuperviseArgvCarriesEveryGlobal(t *testing.T) {
	t.Setenv("CONTAINERD_ADDRESS", "/from/env.sock")
	t.Setenv("COMPOD_HOST_HELPER", "never")
	_, g := parse(t, "up", "--address=/a.sock", "--namespace", "ns1", "--state-dir=/s", "--cni-conf-dir=", "--cni-bin-dir=/b1:/b2",
		"--netns-dir=/n", "--sandbox-image=reg/pause:1", "--log-level=debug")
	argv := superviseArgv(g, "pod1")
	if argv[0] != "supervise" || !slices.Contains(argv, "--project-name=pod1") {
		t.Fatalf("argv %q: want supervise --project-name=pod1 ...", argv)
	}
	t.Setenv("CONTAINERD_ADDRESS", "/other/env.sock")
	t.Setenv("COMPOD_HOST_HELPER", "always")
	cmd, g2 := parse(t, argv...)
	if cmd != "supervise" {
		t.Fatalf("argv %q runs %q", argv, cmd)
	}
	g.flags, g2.flags = nil, nil
	want := globals{address: "/a.sock", namespace: "ns1", stateDir: "/s", cniConfDir: "", cniBinDir: "/b1:/b2",
		netnsDir: "/n", sandboxImage: "reg/pause:1", hostHelper: "never", logLevel: "debug"}
	if *g != want || *g2 != want {
		t.Errorf("globals given: %+v\n supervisor's: %+v\n want: %+v", *g, *g2, want)
	}
}

// parse runs the flag parsing of a command line without running the
// command, and returns the command's name and the global settings.
func parse(t *testing.T, args ...string) (string, *globals) {
	t.Helper()
	root, g := newCommandTree()
	cmd, rest, err := root.Find(args)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.ParseFlags(rest); err != nil {
		t.Fatalf("parsing %q: %v", args, err)
	}
	return cmd.Name(), g
}

// The executor lets its config file fill in the global settings that were
// not given on the command line, before or after the command.
func TestGivenGlobals(t *testing.T) {
	for _, args := range [][]string{{"--address=/a.sock", "executor"}, {"executor", "--address", "/a.sock"}} {
		_, g := parse(t, args...)
		if !g.given("address") || g.given("namespace") || g.given("state-dir") {
			t.Errorf("%q: given address %v, namespace %v, state-dir %v; want only address", args, g.given("address"), g.given("namespace"), g.given("state-dir"))
		}
	}
}
