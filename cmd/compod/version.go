package main

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version overrides the module version of the build info when set at
// build time (-ldflags "-X main.Version=v1.2.3").
var Version = ""

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print compod's version, commit and Go version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), versionString())
			return nil
		},
	}
}

// versionString is "compod VERSION (commit C, modified) go1.x os/arch":
// the module version and VCS stamp `go build` and `go install` record in
// the binary ("(devel)" when there is no version, no commit part when the
// binary was built outside a checkout).
func versionString() string {
	version, vcs := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			vcs = " (commit " + rev[:min(12, len(rev))]
			if modified == "true" {
				vcs += ", modified"
			}
			vcs += ")"
		}
	}
	if Version != "" {
		version = Version
	}
	return fmt.Sprintf("compod %s%s %s %s/%s", version, vcs, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
}
