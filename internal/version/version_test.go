// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestLineNamesVersionCommitAndGo(t *testing.T) {
	oldV, oldC := Version, Commit
	t.Cleanup(func() { Version, Commit = oldV, oldC })
	Version, Commit = "v0.2.0", "1a2b3c4d5e6f"
	got := Line("weftd")
	want := "weftd v0.2.0 (commit 1a2b3c4d5e6f, " + runtime.Version() + ")"
	if got != want {
		t.Fatalf("Line = %q, want %q", got, want)
	}
	Commit = ""
	if c := Get().Commit; c == "" || strings.Contains(c, " ") {
		t.Fatalf("Get().Commit without a linked commit = %q, want build info or \"unknown\"", c)
	}
}
