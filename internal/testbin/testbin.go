// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package testbin locates the binaries that `make build` and `make
// cni-plugins` produce, for tests that run them as real processes. The
// Makefile exports WEFT_BIN_DIR and WEFT_CNI_PATH; without them the repo's
// bin/ is used. A missing binary fails the test with the command to run:
// tests never skip silently because a build step was left out. Under -short
// (make unit, which builds nothing) every test that asks for a binary is
// skipped, saying so.
package testbin

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot returns the module root (the directory holding go.mod).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Dir returns the directory of weft's own binaries.
func Dir() string {
	if d := os.Getenv("WEFT_BIN_DIR"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "bin")
}

// CNIPath returns the directory of the reference CNI plugins (and weft's
// plugin is looked up in Dir).
func CNIPath() string {
	if d := os.Getenv("WEFT_CNI_PATH"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "bin", "cni")
}

// Path returns the path of one of weft's binaries (weftd, weft, weftctl),
// failing the test if it was not built.
func Path(t testing.TB, name string) string {
	t.Helper()
	return mustExist(t, filepath.Join(Dir(), name), "make build")
}

// CNIPlugin returns the path of a reference plugin (bridge, host-local, ...).
func CNIPlugin(t testing.TB, name string) string {
	t.Helper()
	return mustExist(t, filepath.Join(CNIPath(), name), "make cni-plugins")
}

func mustExist(t testing.TB, p, how string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("skipped with -short: runs the built %s (make test builds it with `%s`)", filepath.Base(p), how)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not found: run `%s` first (make test does)", p, how)
	}
	return p
}
