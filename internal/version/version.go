// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package version holds the one version text every weft binary prints
// (weftd --version, weftctl version and --version, weft_build_info), so an
// operator comparing nodes reads the same three facts everywhere: the
// release (from `git describe` with semver tags), the commit and the Go
// toolchain that built it.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version and Commit are set at link time by the Makefile
// (-X github.com/weft-net/weft/internal/version.Version=...). A `go build`
// without them falls back to the module's build info, so a binary built by
// hand still names its commit.
var (
	Version = "dev"
	Commit  = ""
)

// Info is what a binary knows about its own build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
}

// Get returns the build's version facts.
func Get() Info {
	i := Info{Version: Version, Commit: Commit, GoVersion: runtime.Version()}
	if i.Commit == "" {
		i.Commit = vcsRevision()
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	return i
}

func vcsRevision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" && dirty {
		rev += "-dirty"
	}
	return rev
}

// String is the one-line text, e.g. "weftd v0.2.0 (commit 1a2b3c4d5e6f, go1.26.8)".
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, %s)", i.Version, i.Commit, i.GoVersion)
}

// Line is the text a binary named prog prints for --version.
func Line(prog string) string {
	return prog + " " + Get().String()
}
