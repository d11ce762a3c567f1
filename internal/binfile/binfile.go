// Package binfile writes a program embedded in compod (the log writer, the
// init of `init: true` services) to a directory on the host, where the
// containerd shim or a container's bind mount can use it.
package binfile

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Install writes data as the executable dir/<name>-<hash>, unless it is
// there already, and returns its path. The name carries the content's hash,
// so that compods of different versions sharing a directory never replace
// a program that running processes still execute, and a file is never
// rewritten in place (the rename is atomic).
func Install(dir, name string, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	path := filepath.Join(dir, name+"-"+hex.EncodeToString(sum[:6]))
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(data)) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("installing %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(dir, "."+name+"-*")
	if err != nil {
		return "", fmt.Errorf("installing %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o755), os.Rename(tmp.Name(), path)); err != nil {
		return "", fmt.Errorf("installing %s in %s: %w", name, dir, err)
	}
	return path, nil
}
