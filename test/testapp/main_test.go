package main_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compod/compod/internal/testenv"
)

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestOneShot(t *testing.T) {
	bin := testenv.BuildBinary(t, "./test/testapp")
	out, err := exec.Command(bin, "-exit-code", "3", "-print-lines", "2", "-stderr-lines", "1").CombinedOutput()
	if exitCode(err) != 3 || !strings.Contains(string(out), "stdout line 2") || !strings.Contains(string(out), "stderr line 1") {
		t.Errorf("exit %v, output %q", err, out)
	}
	cmd := exec.Command(bin, "-exit-after", "200ms")
	cmd.Env = append(os.Environ(), "TESTAPP_EXIT_CODE=7")
	if err := cmd.Run(); exitCode(err) != 7 {
		t.Errorf("env exit code: %v", err)
	}
	f := filepath.Join(t.TempDir(), "f")
	if err := exec.Command(bin, "-write-file", f, "-write-content", "hello").Run(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f); string(b) != "hello" {
		t.Errorf("wrote %q", b)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "body") }))
	defer srv.Close()
	if out, err := exec.Command(bin, "-get", srv.URL).Output(); err != nil || string(out) != "body" {
		t.Errorf("-get: %q %v", out, err)
	}
}

func TestServer(t *testing.T) {
	bin := testenv.BuildBinary(t, "./test/testapp")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	flag := filepath.Join(t.TempDir(), "unhealthy")
	cmd := exec.Command(bin, "-listen", addr, "-unhealthy-file", flag)
	cmd.Env = append(os.Environ(), "TESTAPP_GREETING=hi-there")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	get := func(path string) (int, string) {
		for i := 0; i < 50; i++ {
			resp, err := http.Get("http://" + addr + path)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode, string(b)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no answer on %s", addr)
		return 0, ""
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, "hi-there") {
		t.Errorf("/: %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz %d", code)
	}
	os.WriteFile(flag, nil, 0o644)
	if code, _ := get("/healthz"); code != 500 {
		t.Errorf("/healthz with the file: %d", code)
	}
	if _, body := get("/env"); !strings.Contains(body, "TESTAPP_GREETING=hi-there") {
		t.Errorf("/env %q", body)
	}
	if _, body := get("/whoami"); !strings.HasPrefix(body, fmt.Sprintf("%d:%d\n", os.Getuid(), os.Getgid())) {
		t.Errorf("/whoami %q", body)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Error("still running 3s after SIGTERM")
	}
}

func TestIgnoreSigterm(t *testing.T) {
	bin := testenv.BuildBinary(t, "./test/testapp")
	cmd := exec.Command(bin, "-ignore-sigterm")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(200 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		t.Fatalf("exited after SIGTERM: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := <-done; err != nil {
		t.Errorf("exit after SIGINT: %v", err)
	}
}
