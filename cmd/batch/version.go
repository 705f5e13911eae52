package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildVersion is what the binary knows about its own build, from
// runtime/debug.ReadBuildInfo: the main module's version ("(devel)" for a
// build from a work tree without VCS stamping) and the VCS revision the go
// command stamped (absent with -buildvcs=false and in test binaries).
type buildVersion struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"` // commit time, RFC 3339
	Modified bool   `json:"modified"`       // built from a work tree with uncommitted changes
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// readVersion reads the running binary's build information.
func readVersion() buildVersion {
	bi, ok := debug.ReadBuildInfo()
	return versionOf(bi, ok)
}

// versionOf turns build information into a buildVersion; ok false (a
// binary built without module support) gives "unknown".
func versionOf(bi *debug.BuildInfo, ok bool) buildVersion {
	v := buildVersion{Version: "unknown", Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if !ok || bi == nil {
		return v
	}
	v.Module, v.Go = bi.Main.Path, bi.GoVersion
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	goos, goarch := runtime.GOOS, runtime.GOARCH
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	v.Platform = goos + "/" + goarch
	return v
}

// short is the version recorded in every run: the module version, and
// the first 12 digits of the revision when stamped ("+dirty" when
// modified).
func (v buildVersion) short() string {
	s := v.Version
	if v.Revision != "" {
		rev := v.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " " + rev
		if v.Modified {
			s += "+dirty"
		}
	}
	return s
}

// writeVersion prints v for people, or as one JSON object.
func writeVersion(w io.Writer, v buildVersion, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(v)
	}
	fmt.Fprintf(w, "batch %s\n", v.Version)
	if v.Module != "" {
		fmt.Fprintf(w, "module:   %s\n", v.Module)
	}
	switch {
	case v.Revision == "":
		fmt.Fprintln(w, "revision: unknown (built without VCS stamping, e.g. -buildvcs=false or go test)")
	default:
		rev := v.Revision
		if v.Time != "" {
			rev += " (" + v.Time + ")"
		}
		if v.Modified {
			rev += ", with uncommitted changes"
		}
		fmt.Fprintf(w, "revision: %s\n", rev)
	}
	_, err := fmt.Fprintf(w, "go:       %s %s\n", v.Go, v.Platform)
	return err
}

func newVersionCmd(o IO) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "version [flags]",
		Short: "print the version and VCS revision (as batch --version)",
		Long: `version prints the main module's version and the VCS revision, commit time
and modified flag that the go command stamped into the binary (go build or go
install from a git checkout; -buildvcs=false leaves the revision out). Every
run records the version in its database row (runs.tool_version).`,
		Example: `  batch version
  batch --version
  batch version --json | jq -r .revision`,
		Args: exactArgs(0, "version takes no arguments"),
		RunE: func(c *cobra.Command, _ []string) error {
			return writeVersion(o.Out, readVersion(), asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object: module, version, revision, time, modified, go, platform")
	setExits(c, exitOK, exitBadInput)
	return c
}
