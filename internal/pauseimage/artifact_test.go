package pauseimage_test

import (
	"testing"

	"github.com/compod/compod/internal/binfile/binfiletest"
	"github.com/compod/compod/internal/pauseimage"
)

var pause = binfiletest.Artifact{
	Name:       "pause",
	Regenerate: "go generate ./internal/pauseimage",
	Gen:        []string{"./gen"},
	Embedded:   pauseimage.Binary,
}

// The committed bin/pause is the one bin/pause.info describes, and the one
// compod embeds.
func TestBinaryRecord(t *testing.T) { binfiletest.CheckRecord(t, pause) }

// The committed bin/pause is cmd/compod-pause as it is now.
func TestBinaryUpToDate(t *testing.T) { binfiletest.CheckUpToDate(t, pause) }
