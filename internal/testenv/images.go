package testenv

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/client"

	"github.com/compod/compod/internal/imagebuild"
	"github.com/compod/compod/internal/pauseimage"
)

// BusyboxPath is where Debian's busybox-static puts its binary.
const BusyboxPath = "/bin/busybox"

// archives are built once per process; importing them is idempotent and
// cheap when the images are already there.
var archives struct {
	once             sync.Once
	busybox, testapp []byte
	err              error
}

// EnsureImages makes BusyboxRef, TestappRef and the built-in pause image
// exist, unpacked, in Namespace. The first call in a process builds the
// images (go build of test/testapp); later calls only check them.
func EnsureImages(t testing.TB, c *client.Client) {
	t.Helper()
	EnsureImagesIn(t, c, Namespace)
}

// EnsureImagesIn is EnsureImages for another namespace (a test of a second
// compod instance); RemoveNamespace removes them again.
func EnsureImagesIn(t testing.TB, c *client.Client, ns string) {
	t.Helper()
	testapp := BuildBinary(t, "./test/testapp")
	archives.once.Do(func() {
		if archives.busybox, archives.err = BusyboxArchive(BusyboxRef); archives.err != nil {
			return
		}
		archives.testapp, archives.err = TestappArchive(TestappRef, testapp)
	})
	if archives.err != nil {
		t.Fatalf("building test images: %v", archives.err)
	}

	// Test binaries of several packages run at once: one imports at a time.
	unlock, err := lockFile("/run/compod-test/images.lock")
	if err != nil {
		t.Fatalf("locking the test images: %v", err)
	}
	defer unlock()

	ctx := ContextIn(t, ns)
	for _, img := range []struct {
		ref     string
		archive []byte
	}{{BusyboxRef, archives.busybox}, {TestappRef, archives.testapp}} {
		if _, err := imagebuild.Import(ctx, c, img.ref, img.archive); err != nil {
			t.Fatalf("%v", err)
		}
	}
	if _, err := pauseimage.Ensure(ctx, c, pauseimage.DefaultRef); err != nil {
		t.Fatalf("pause image: %v", err)
	}
}

// BusyboxArchive builds the busybox image: Debian's static busybox as
// /bin/busybox, a symlink for every applet (`busybox --list-full`),
// /etc/passwd and /etc/group with root, app (1000) and nobody, and /tmp.
func BusyboxArchive(ref string) ([]byte, error) {
	data, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("%v: install Debian's busybox-static (hack/setup.sh)", err)
	}
	if err := checkStatic(BusyboxPath); err != nil {
		return nil, err
	}
	out, err := exec.Command(BusyboxPath, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list-full: %w", err)
	}
	files := append(baseFiles(), imagebuild.File{Path: "/bin/busybox", Mode: 0o755, Data: data})
	seen := map[string]bool{"/bin/busybox": true}
	for _, applet := range strings.Fields(string(out)) {
		p := filepath.Clean("/" + applet)
		if seen[p] || isBaseDir(p) {
			continue
		}
		seen[p] = true
		files = append(files, imagebuild.File{Path: p, Link: "/bin/busybox"})
	}
	return imagebuild.Archive(ref, files, imagebuild.Config{Cmd: []string{"sh"}})
}

// TestappArchive builds the testapp image from a static testapp binary:
// /testapp is the entrypoint. edit, if any, changes the image's config
// (a test's own variant of the image).
func TestappArchive(ref, binary string, edit ...func(*imagebuild.Config)) ([]byte, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	if err := checkStatic(binary); err != nil {
		return nil, err
	}
	files := append(baseFiles(), imagebuild.File{Path: "/testapp", Mode: 0o755, Data: data})
	cfg := imagebuild.Config{
		Entrypoint:   []string{"/testapp"},
		ExposedPorts: []string{"8080/tcp"},
	}
	for _, f := range edit {
		f(&cfg)
	}
	return imagebuild.Archive(ref, files, cfg)
}

// baseFiles are the files every test image has.
func baseFiles() []imagebuild.File {
	return []imagebuild.File{
		{Path: "/etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{Path: "/etc/group", Data: []byte("root:x:0:\napp:x:1000:\nnogroup:x:65534:\n")},
		{Path: "/tmp", Dir: true, Mode: 0o777 | os.ModeSticky},
		{Path: "/root", Dir: true, Mode: 0o700},
		{Path: "/home/app", Dir: true, Mode: 0o755},
	}
}

func isBaseDir(p string) bool {
	for _, f := range baseFiles() {
		if f.Path == p {
			return true
		}
	}
	return false
}

// checkStatic fails for a dynamically linked binary, which would not run in
// an image without a libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; test images need a static binary (Debian's busybox-static, CGO_ENABLED=0)", path)
		}
	}
	return nil
}

// lockFile takes an exclusive flock on path (creating it and its dir).
func lockFile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
