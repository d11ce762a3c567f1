// Command images builds the demo images from this repository (busybox from
// Debian's busybox-static, the Go testapp) and imports them into a
// containerd namespace: `go run ./hack/images --address SOCK --namespace NS`.
// It is a development tool; compod itself never needs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/compod/compod/internal/imagebuild"
	"github.com/compod/compod/internal/testenv"
)

func main() {
	address := flag.String("address", testenv.Address(), "containerd socket")
	ns := flag.String("namespace", "compod", "containerd namespace")
	flag.Parse()
	if err := run(*address, *ns); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(address, ns string) error {
	c, err := client.New(address)
	if err != nil {
		return fmt.Errorf("connecting to containerd at %s: %w", address, err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), ns)

	bb, err := testenv.BusyboxArchive(testenv.BusyboxRef)
	if err != nil {
		return err
	}
	if _, err := imagebuild.Import(ctx, c, testenv.BusyboxRef, bb); err != nil {
		return err
	}
	fmt.Println("imported", testenv.BusyboxRef)

	dir, err := os.MkdirTemp("", "compod-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "testapp")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./test/testapp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building testapp: %w", err)
	}
	ta, err := testenv.TestappArchive(testenv.TestappRef, bin)
	if err != nil {
		return err
	}
	if _, err := imagebuild.Import(ctx, c, testenv.TestappRef, ta); err != nil {
		return err
	}
	fmt.Println("imported", testenv.TestappRef)
	return nil
}
