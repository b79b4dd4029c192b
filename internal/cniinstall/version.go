// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package cniinstall

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
)

// pluginExecTimeout bounds one run of a plugin asked for its version: a
// plugin that hangs must not hang the node's install step.
const pluginExecTimeout = 10 * time.Second

// Version is a plugin's release, from the line a CNI plugin built on
// skel prints when run without CNI_COMMAND ("CNI bridge plugin v1.9.1").
// A plugin built without its version stamped prints "version unknown";
// such a version is never older, nor newer, than another.
type Version struct {
	Raw string // the version word as printed, "" when none was found
	v   semver
	ok  bool
}

func (v Version) String() string {
	if v.Raw == "" {
		return "unknown"
	}
	return v.Raw
}

// Less says whether v is known to be older than w: both known and v
// below w.
func (v Version) Less(w Version) bool { return v.ok && w.ok && v.v.Less(w.v) }

// versionLineRE matches the reference plugins' about line.
var versionLineRE = regexp.MustCompile(`(?m)^CNI \S+ plugin (\S+)`)

// PluginVersion runs the plugin at path without CNI_COMMAND and reads
// its version line. Any failure gives the unknown version.
func PluginVersion(ctx context.Context, path string) Version {
	ctx, cancel := context.WithTimeout(ctx, pluginExecTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path)
	// Only PATH: a CNI_COMMAND left in our environment would make the
	// plugin do something else.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run() // a plugin exits non-zero without a command; the line is what counts
	m := versionLineRE.FindSubmatch(out.Bytes())
	if m == nil {
		return Version{}
	}
	raw := string(m[1])
	if raw == "version" { // "CNI bridge plugin version unknown"
		return Version{}
	}
	sv, ok := parseSemver(raw)
	return Version{Raw: raw, v: sv, ok: ok}
}

// SpecVersions runs the plugin at path with CNI_COMMAND=VERSION and
// returns the CNI spec versions it supports.
func SpecVersions(ctx context.Context, path string) ([]string, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, pluginExecTimeout)
	defer cancel()
	info, err := invoke.GetVersionInfo(ctx, path, nil)
	if err != nil {
		return nil, fmt.Errorf("%s VERSION: %w", path, err)
	}
	return info.SupportedVersions(), nil
}

// semver is major.minor.patch; pre-release and build suffixes are not
// compared, so a version carrying one does not parse.
type semver [3]int

func (a semver) Less(b semver) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func parseSemver(s string) (semver, bool) {
	var v semver
	parts := strings.Split(strings.TrimPrefix(s, "v"), ".")
	if len(parts) != 3 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, false
		}
		v[i] = n
	}
	return v, true
}
