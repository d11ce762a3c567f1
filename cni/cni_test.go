package cni_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/netns"
	cnins "github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"

	"github.com/compod/compod/cni"
	"github.com/compod/compod/cni/cnitest"
)

var testBinDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// requireRoot skips tests that need root (real plugins, iptables,
// namespaces), except on CI where they must run.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test needs root (CI is set, so it may not be skipped)")
		}
		t.Skip("needs root")
	}
	for _, tool := range []string{"iptables", "iptables-save", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install iptables and iproute2", tool)
		}
	}
}

// newStateDir makes a compod state dir whose host-local allocator starts at
// a random spot of 10.89.0.0/16. Every compod state dir has its own IPAM
// data on the shared compod0 bridge, so tests of other packages running
// at the same time (all starting at 10.89.0.2) must not get our addresses.
func newStateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ipam := filepath.Join(dir, "cni", "ipam", cni.DefaultNetworkName)
	if err := os.MkdirAll(ipam, 0o700); err != nil {
		t.Fatal(err)
	}
	last := fmt.Sprintf("10.89.%d.%d", 128+rand.IntN(120), 1+rand.IntN(200))
	if err := os.WriteFile(filepath.Join(ipam, "last_reserved_ip.0"), []byte(last), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newNetwork(t *testing.T, stateDir string) *cni.Network {
	t.Helper()
	n, err := cni.New(cni.Config{StateDir: stateDir, BinDirs: testBinDirs, DefaultNetVersion: cni.DefaultNetVersion})
	if err != nil {
		t.Fatalf("cni.New: %v", err)
	}
	return n
}

func pin(t *testing.T, dir, name string) string {
	t.Helper()
	path, err := cni.PinNetNS(dir, name)
	if err != nil {
		t.Fatalf("PinNetNS: %v", err)
	}
	t.Cleanup(func() { cni.ReleaseNetNS(path) })
	return path
}

func podID(t *testing.T) string {
	return fmt.Sprintf("cnitest-%s-%06d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), rand.IntN(1e6))
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// inNetNS runs f on an OS thread inside the netns at path.
func inNetNS(t *testing.T, path string, f func() error) {
	t.Helper()
	if err := netns.LoadNetNS(path).Do(func(cnins.NetNS) error { return f() }); err != nil {
		t.Fatalf("in netns %s: %v", path, err)
	}
}

// serve starts an HTTP server on port inside the netns; it answers with the
// port it listens on. A socket stays in the netns it was made in, so only
// Listen needs to run there.
func serve(t *testing.T, path string, port int) {
	t.Helper()
	var l net.Listener
	inNetNS(t, path, func() (err error) {
		l, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pod port %d", port)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

var client = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
}

func get(t *testing.T, addr string) string {
	t.Helper()
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("GET %s: %v", addr, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", addr, err)
	}
	return string(b)
}

func TestSetupPublishesPortsAndRemoveCleansUp(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	stateDir, pinDir := newStateDir(t), newNetNSDir(t)
	before := cnitest.Snapshot(t, stateDir, pinDir)

	n := newNetwork(t, stateDir)
	if n.Name() != cni.DefaultNetworkName {
		t.Errorf("Name() = %q, want %q", n.Name(), cni.DefaultNetworkName)
	}
	path := pin(t, pinDir, "pod1")
	local, all := freePort(t), freePort(t)
	ports := []cni.PortMapping{
		{HostIP: "127.0.0.1", HostPort: local, ContainerPort: 8080, Protocol: "tcp"},
		{HostIP: "0.0.0.0", HostPort: all, ContainerPort: 8081},
	}
	id := podID(t)
	att, err := n.Setup(ctx, id, path, ports)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Logf("attachment: %+v", *att)
	_, subnet, _ := net.ParseCIDR(cni.DefaultSubnet)
	if ip := net.ParseIP(att.IP); ip == nil || !subnet.Contains(ip) {
		t.Errorf("pod IP %q not in %s", att.IP, cni.DefaultSubnet)
	}
	if att.Gateway != "10.89.0.1" || att.Interface != "eth0" || att.Network != "compod" {
		t.Errorf("attachment = %+v, want gateway 10.89.0.1 on eth0 of network compod", *att)
	}

	serve(t, path, 8080)
	serve(t, path, 8081)
	if got := get(t, fmt.Sprintf("127.0.0.1:%d", local)); got != "pod port 8080" {
		t.Errorf("via 127.0.0.1:%d got %q", local, got)
	}
	if got := get(t, fmt.Sprintf("127.0.0.1:%d", all)); got != "pod port 8081" {
		t.Errorf("via 127.0.0.1:%d (published on all addresses) got %q", all, got)
	}
	if got := get(t, net.JoinHostPort(att.IP, "8080")); got != "pod port 8080" {
		t.Errorf("via pod IP got %q", got)
	}
	// lo is up inside the pod: services of a pod reach each other there.
	inNetNS(t, path, func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:8081", 2*time.Second)
		if err != nil {
			return fmt.Errorf("localhost inside the pod: %w", err)
		}
		return c.Close()
	})

	if err := n.Remove(ctx, id, path, ports); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if err := n.Remove(ctx, id, path, ports); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	if err := cni.ReleaseNetNS(path); err != nil {
		t.Fatalf("ReleaseNetNS: %v", err)
	}
	if err := cni.ReleaseNetNS(path); err != nil {
		t.Fatalf("second ReleaseNetNS: %v", err)
	}
	if _, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", local)); err == nil {
		t.Errorf("127.0.0.1:%d still answers after Remove", local)
	}
	before.AssertNoLeak(t, cnitest.Snapshot(t, stateDir, pinDir))
}

func TestRemoveAfterNetNSReleased(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	stateDir, pinDir := newStateDir(t), newNetNSDir(t)
	before := cnitest.Snapshot(t, stateDir, pinDir)
	n := newNetwork(t, stateDir)
	path := pin(t, pinDir, "gone")
	ports := []cni.PortMapping{{HostIP: "127.0.0.1", HostPort: freePort(t), ContainerPort: 80}}
	id := podID(t)
	if _, err := n.Setup(ctx, id, path, ports); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	during := cnitest.Snapshot(t, stateDir, pinDir)
	leaks := strings.Join(before.Leaks(during), "\n")
	for _, want := range []string{"netns pins", "veths", "IPAM", "cache", "iptables chains", "iptables rules"} {
		if !strings.Contains(leaks, want) {
			t.Errorf("with a pod attached, cnitest sees no new %s; it sees:\n%s", want, leaks)
		}
	}

	if err := cni.ReleaseNetNS(path); err != nil {
		t.Fatalf("ReleaseNetNS: %v", err)
	}
	if err := n.Remove(ctx, id, path, ports); err != nil {
		t.Fatalf("Remove without netns: %v", err)
	}
	if err := n.Remove(ctx, id, "", ports); err != nil {
		t.Fatalf("Remove with empty netns path: %v", err)
	}
	before.AssertNoLeak(t, cnitest.Snapshot(t, stateDir, pinDir))
}

func TestRemoveNeverSetUp(t *testing.T) {
	requireRoot(t)
	stateDir := newStateDir(t)
	n := newNetwork(t, stateDir)
	ports := []cni.PortMapping{{HostPort: freePort(t), ContainerPort: 80}}
	if err := n.Remove(context.Background(), podID(t), filepath.Join(t.TempDir(), "nothing"), ports); err != nil {
		t.Fatalf("Remove of a pod never set up: %v", err)
	}
}

func TestTwoPodsGetDifferentIPsAndReachEachOther(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	stateDir, pinDir := newStateDir(t), newNetNSDir(t)
	before := cnitest.Snapshot(t, stateDir, pinDir)
	n := newNetwork(t, stateDir)

	type pod struct {
		id, path string
		att      *cni.Attachment
		err      error
	}
	pods := []*pod{
		{id: podID(t) + "-a", path: pin(t, pinDir, "a")},
		{id: podID(t) + "-b", path: pin(t, pinDir, "b")},
	}
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.att, p.err = n.Setup(ctx, p.id, p.path, nil)
		}()
	}
	wg.Wait()
	for _, p := range pods {
		if p.err != nil {
			t.Fatalf("Setup %s: %v", p.id, p.err)
		}
	}
	if pods[0].att.IP == pods[1].att.IP {
		t.Fatalf("both pods got %s", pods[0].att.IP)
	}
	serve(t, pods[0].path, 9000)
	inNetNS(t, pods[1].path, func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(pods[0].att.IP, "9000"), 2*time.Second)
		if err != nil {
			return fmt.Errorf("pod b to pod a: %w", err)
		}
		return c.Close()
	})
	for _, p := range pods {
		if err := n.Remove(ctx, p.id, p.path, nil); err != nil {
			t.Errorf("Remove %s: %v", p.id, err)
		}
		if err := cni.ReleaseNetNS(p.path); err != nil {
			t.Errorf("ReleaseNetNS: %v", err)
		}
	}
	before.AssertNoLeak(t, cnitest.Snapshot(t, stateDir, pinDir))
}

func TestSetupFailureUndoes(t *testing.T) {
	requireRoot(t)
	stateDir, pinDir := newStateDir(t), newNetNSDir(t)
	before := cnitest.Snapshot(t, stateDir, pinDir)
	n := newNetwork(t, stateDir)
	// A path that is not a netns: the bridge plugin fails after IPAM.
	bogus := filepath.Join(pinDir, "not-a-netns")
	if err := os.WriteFile(bogus, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := n.Setup(context.Background(), podID(t), bogus, nil)
	if err == nil {
		t.Fatal("Setup into a plain file succeeded")
	}
	t.Logf("error: %v", err)
	os.Remove(bogus)

	// portmap fails after the bridge plugin attached the pod and
	// host-local gave it an address.
	path := pin(t, pinDir, "pod")
	ports := []cni.PortMapping{{HostPort: freePort(t), ContainerPort: 80, Protocol: "bogus"}}
	if _, err := n.Setup(context.Background(), podID(t), path, ports); err == nil {
		t.Fatal("Setup with a bogus protocol succeeded")
	} else {
		t.Logf("error: %v", err)
	}
	if err := cni.ReleaseNetNS(path); err != nil {
		t.Fatal(err)
	}
	before.AssertNoLeak(t, cnitest.Snapshot(t, stateDir, pinDir))
}

func TestPinNetNSShowsInIPNetns(t *testing.T) {
	requireRoot(t)
	name := fmt.Sprintf("compod-cnitest-%06d", rand.IntN(1e6))
	path := pin(t, cni.DefaultNetNSDir, name)
	if path != filepath.Join(cni.DefaultNetNSDir, name) {
		t.Errorf("path = %s", path)
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil || !strings.Contains(string(out), name) {
		t.Errorf("ip netns list (%v) does not show %s:\n%s", err, name, out)
	}
	// A netns of its own: no interface but lo.
	out, err = exec.Command("ip", "netns", "exec", name, "ip", "-o", "link").CombinedOutput()
	if err != nil || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 || !strings.Contains(string(out), "lo:") {
		t.Errorf("ip netns exec %s ip -o link (%v):\n%s", name, err, out)
	}
	if _, err := cni.PinNetNS(cni.DefaultNetNSDir, name); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("pinning %s twice: %v", name, err)
	}
	if err := cni.ReleaseNetNS(path); err != nil {
		t.Fatalf("ReleaseNetNS: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s still there after release: %v", path, err)
	}
	if err := cni.ReleaseNetNS(path); err != nil {
		t.Errorf("second ReleaseNetNS: %v", err)
	}
	// No thread of this process stays behind in a pinned netns (which
	// would keep it, and a veth in it, alive after release). The goroutine
	// that makes the netns sometimes runs on the main thread, which Go
	// never ends, so try a few times.
	dir := newNetNSDir(t)
	pinned := map[string]bool{}
	for i := 0; i < 20; i++ {
		p, err := cni.PinNetNS(dir, fmt.Sprint("t", i))
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		pinned[fmt.Sprintf("net:[%d]", st.Ino)] = true
		if err := cni.ReleaseNetNS(p); err != nil {
			t.Fatal(err)
		}
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/ns/net", os.Getpid()))
	for _, task := range tasks {
		if l, _ := os.Readlink(task); pinned[l] {
			t.Errorf("thread %s is still in pinned netns %s", task, l)
		}
	}

	for _, bad := range []string{"", "a/b", ".."} {
		if _, err := cni.PinNetNS(t.TempDir(), bad); err == nil {
			t.Errorf("PinNetNS(%q) succeeded", bad)
		}
	}
}

// A netns whose pin is released can live on while something still holds
// it (a process left in it). Remove must then unplug the pod's veth itself,
// before the pod's address goes back to the pool.
func TestRemoveUnplugsVethOfHeldNetNS(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	stateDir, pinDir := newStateDir(t), newNetNSDir(t)
	before := cnitest.Snapshot(t, stateDir, pinDir)
	n := newNetwork(t, stateDir)
	path := pin(t, pinDir, "held")
	id := podID(t)
	if _, err := n.Setup(ctx, id, path, nil); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	holder, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if err := cni.ReleaseNetNS(path); err != nil {
		t.Fatal(err)
	}
	if err := n.Remove(ctx, id, path, nil); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	// Right away, while the netns still exists.
	if leaks := before.Leaks(cnitest.Snapshot(t, stateDir, pinDir)); len(leaks) > 0 {
		t.Errorf("after Remove, with the netns still held:\n%s", strings.Join(leaks, "\n"))
	}
	holder.Close()
	before.AssertNoLeak(t, cnitest.Snapshot(t, stateDir, pinDir))
}

// A compod killed during ADD leaves no cached result: DEL then cannot tell
// the firewall plugin the pod's address, and its CNI-FORWARD rules stayed
// (seen after `up` was SIGKILLed mid-launch). Remove finds the address in
// host-local's reservations and removes them. The firewall plugin is in
// the default network's first conflist (DefaultNetVersion 0), which pods
// attached with it are removed with.
func TestRemoveWithoutCachedResult(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	stateDir, pinDir := newStateDir(t), newNetNSDir(t)
	before := cnitest.Snapshot(t, stateDir, pinDir)
	n, err := cni.New(cni.Config{StateDir: stateDir, BinDirs: testBinDirs, DefaultNetVersion: 0})
	if err != nil {
		t.Fatal(err)
	}
	path := pin(t, pinDir, "nocache")
	id := podID(t)
	att, err := n.Setup(ctx, id, path, nil)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	results, _ := filepath.Glob(filepath.Join(stateDir, "cni", "cache", "results", "*"+id+"*"))
	if len(results) == 0 {
		t.Fatalf("no cached result for %s under %s", id, stateDir)
	}
	for _, r := range results {
		if err := os.Remove(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Remove(ctx, id, path, nil); err != nil {
		t.Fatalf("Remove without a cached result: %v", err)
	}
	if out, _ := exec.Command("iptables", "-w", "-S", "CNI-FORWARD").Output(); strings.Contains(string(out), att.IP+"/32") {
		t.Errorf("firewall rules for %s left:\n%s", att.IP, out)
	}
	if err := cni.ReleaseNetNS(path); err != nil {
		t.Fatal(err)
	}
	before.AssertNoLeak(t, cnitest.Snapshot(t, stateDir, pinDir))
}
