package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version overrides the version found in the build info. Release builds set
// it with
//
//	go build -ldflags "-X github.com/weirstream/weir/internal/app/cli.version=v1.2.3" ./cmd/weir
var version string

// versionString returns "weir <version> (<go version>)". The version is, in
// order of preference: the ldflags override, the main module version (set by
// `go install …@v1.2.3`, or derived from the VCS by `go build`), or
// "(devel)" followed by the VCS revision when the build info has one.
func versionString() string {
	goVersion := runtime.Version()
	v := version
	var revision string
	var modified bool
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	return formatVersion(v, revision, modified, goVersion)
}

func formatVersion(v, revision string, modified bool, goVersion string) string {
	if v == "" || v == "(devel)" {
		v = "(devel)"
		if revision != "" {
			v += " " + revision[:min(len(revision), 12)]
			if modified {
				v += "-dirty"
			}
		}
	}
	return fmt.Sprintf("weir %s (%s)", v, goVersion)
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of weir",
		Long: `Print the version of weir and of the Go toolchain that built it, the same
line as 'weir --version'. A build from a source tree without a release version
prints "(devel)" and, when the build recorded it, the VCS revision.`,
		Example: `  weir version`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), versionString())
			return err
		},
	}
}
