package cni

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/continuity"
	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
)

// Validating a conflist runs every plugin of it (CNI VERSION), a dozen
// milliseconds of process starts on every `compod up`. The answer only
// changes when the conflist or a plugin binary does, so a validation that
// passed is remembered in the state dir (cni/validated), keyed by the
// conflist's bytes and each plugin binary's path, size and modification
// time; a changed conf or an upgraded plugin is validated again.

const validatedKeep = 64 // keys kept: conf dirs rarely hold more networks

// validationKey identifies what a validation of list looked at; "" when a
// plugin cannot be found (Validate reports that).
func (n *Network) validationKey(list *libcni.NetworkConfigList) string {
	h := sha256.New()
	h.Write(list.Bytes)
	for _, p := range list.Plugins {
		for _, t := range []string{p.Network.Type, p.Network.IPAM.Type} {
			if t == "" {
				continue
			}
			path, err := invoke.FindInPath(t, n.binDirs)
			if err != nil {
				return ""
			}
			fi, err := os.Stat(path)
			if err != nil {
				return ""
			}
			fmt.Fprintf(h, "\x00%s\x00%d\x00%d", path, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (n *Network) validatedFile() string {
	return filepath.Join(filepath.Dir(n.cacheDir), "validated")
}

// wasValidated reports whether key is remembered as validated.
func (n *Network) wasValidated(key string) bool {
	if key == "" {
		return false
	}
	data, err := os.ReadFile(n.validatedFile())
	if err != nil {
		return false
	}
	return slices.Contains(strings.Fields(string(data)), key)
}

// rememberValidated adds key, keeping the newest validatedKeep. Losing a
// race with another compod costs only a validation later.
func (n *Network) rememberValidated(key string) {
	if key == "" {
		return
	}
	var keys []string
	if data, err := os.ReadFile(n.validatedFile()); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if k := strings.TrimSpace(sc.Text()); k != "" && k != key {
				keys = append(keys, k)
			}
		}
	}
	keys = append(keys, key)
	if len(keys) > validatedKeep {
		keys = keys[len(keys)-validatedKeep:]
	}
	if err := os.MkdirAll(filepath.Dir(n.validatedFile()), 0o755); err != nil {
		return
	}
	_ = continuity.AtomicWriteFile(n.validatedFile(), []byte(strings.Join(keys, "\n")+"\n"), 0o644)
}
