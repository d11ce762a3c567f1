package translate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxSymlinks is the kernel's bound on symlinks followed in one lookup
// (MAXSYMLINKS, ELOOP beyond).
const maxSymlinks = 40

// ResolveHostPath is the path the kernel would reach for p: relative paths
// are taken against dir (as translate resolves a compose file's relative
// paths against the project directory), every symlink is followed, and
// "." and ".." are applied to the path reached so far, in order (so
// "link/.." where link points at /etc/ssl is /etc, not "."). A component
// that does not exist is taken as it is written (a directory someone may
// create later): the result is the deepest existing ancestor, resolved,
// plus the rest of the path, cleaned. A dangling symlink resolves to its
// target, since creating the source would create the target.
//
// It reads the file system (lstat, readlink) and changes nothing.
func ResolveHostPath(dir, p string) (string, error) {
	if !filepath.IsAbs(p) {
		// Not filepath.Join: it would apply ".." before the symlinks.
		p = dir + "/" + p
	}
	links := 0
	cur := "/"
	rest := strings.Split(p, "/")
	for len(rest) > 0 {
		comp := rest[0]
		rest = rest[1:]
		switch comp {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, comp)
		fi, err := os.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			// Nothing is there (below a regular file nothing can be):
			// the rest is judged as written.
			cur = next
			continue
		case err != nil:
			return "", fmt.Errorf("resolving %s: %w", p, err)
		case fi.Mode()&fs.ModeSymlink == 0:
			cur = next
			continue
		}
		links++
		if links > maxSymlinks {
			return "", fmt.Errorf("resolving %s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", fmt.Errorf("resolving %s: %w", p, err)
		}
		if filepath.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return cur, nil
}

// underPrefix says whether path is prefix or below it, by whole
// components (/data is under /data and /, not under /dat).
func underPrefix(path, prefix string) bool {
	path, prefix = filepath.Clean(path), filepath.Clean(prefix)
	if prefix == "/" || path == prefix {
		return true
	}
	return strings.HasPrefix(path, prefix+"/")
}
