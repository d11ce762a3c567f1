package agentsim

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// fetch is the Mesos fetcher (src/launcher/fetcher.cpp) for
// ExecutorInfo.command.uris, run before the executor starts: each URI is
// copied into the sandbox under its basename, or under output_file
// (relative to the sandbox; parent directories are made), and made
// executable if asked. Supported: local paths, file:// and http(s)://.
// The fetcher cache is not emulated (cache is ignored: every URI is fetched
// directly into the sandbox), and archives are not extracted: a URI that
// asks for extraction of a file with an archive extension is an error
// rather than a silently unextracted archive. Progress goes to the
// sandbox's stderr, as the fetcher's does.
func fetch(sandbox string, uris []mesos.CommandInfo_URI, log io.Writer) error {
	for _, u := range uris {
		if err := fetchOne(sandbox, u, log); err != nil {
			fmt.Fprintf(log, "Failed to fetch '%s': %v\n", u.Value, err)
			return fmt.Errorf("failed to fetch '%s': %w", u.Value, err)
		}
	}
	return nil
}

var archiveExts = []string{".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip", ".gz", ".bz2", ".xz"}

func fetchOne(sandbox string, u mesos.CommandInfo_URI, log io.Writer) error {
	if u.Value == "" {
		return errors.New("empty URI")
	}
	name := path.Base(u.Value)
	if parsed, err := url.Parse(u.Value); err == nil && parsed.Scheme != "" {
		name = path.Base(parsed.Path)
	}
	if u.OutputFile != nil && *u.OutputFile != "" {
		// Fetcher::validateOutputFile: relative, no "..".
		of := *u.OutputFile
		if filepath.IsAbs(of) {
			return fmt.Errorf("output_file %q must be a relative path", of)
		}
		if clean := filepath.Clean(of); clean == ".." || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("output_file %q leaves the sandbox", of)
		}
		name = of
	}
	if name == "" || name == "." || name == "/" {
		return errors.New("cannot derive a file name from the URI")
	}
	if u.Extract == nil || *u.Extract {
		for _, ext := range archiveExts {
			if strings.HasSuffix(strings.ToLower(name), ext) {
				return fmt.Errorf("extracting archives (%s) is not emulated", ext)
			}
		}
	}
	dst := filepath.Join(sandbox, name)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	fmt.Fprintf(log, "%s Fetching URI '%s'\n%s Fetching directly into the sandbox directory\n",
		time.Now().Format("I0102 15:04:05.000000"), u.Value, time.Now().Format("I0102 15:04:05.000000"))

	var src io.ReadCloser
	switch {
	case strings.HasPrefix(u.Value, "http://"), strings.HasPrefix(u.Value, "https://"):
		resp, err := http.Get(u.Value)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fmt.Errorf("HTTP %s", resp.Status)
		}
		src = resp.Body
	case strings.HasPrefix(u.Value, "file://"):
		f, err := os.Open(strings.TrimPrefix(u.Value, "file://"))
		if err != nil {
			return err
		}
		src = f
	case strings.Contains(u.Value, "://"):
		return errors.New("unsupported URI scheme")
	default:
		if !filepath.IsAbs(u.Value) {
			return errors.New("a local path must be absolute")
		}
		f, err := os.Open(u.Value)
		if err != nil {
			return err
		}
		src = f
	}
	defer src.Close()
	mode := os.FileMode(0o644)
	if u.Executable != nil && *u.Executable {
		mode = 0o755
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Chmod(dst, mode); err != nil {
		return err
	}
	fmt.Fprintf(log, "%s Fetched '%s' to '%s'\n", time.Now().Format("I0102 15:04:05.000000"), u.Value, dst)
	return nil
}
