// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package benchfile holds what weft's result writers and doc generators
// share: the machine and commit a result file records, finding the newest
// result of a kind in bench/results, and replacing a generated section of a
// document between its markers. `make bench-doc` (internal/benchrun) and
// `make scale-doc` (internal/scalebench/cmd/scaledoc) use it, so that every
// generated table in Documentation/ is refreshed the same way.
package benchfile

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Commit returns the short commit of the checkout, "unknown" outside git.
func Commit() string {
	b, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// Machine describes the CPU, core count, Go version and kernel.
func Machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%s, %d CPUs, %s, Linux %s", model, runtime.NumCPU(), runtime.Version(), strings.TrimSpace(string(kernel)))
}

// Newest returns the most recently modified file in dir matching the glob
// pattern (e.g. "[0-9]*.json" for `make bench`, "scale-*.json").
func Newest(dir, pattern string) (string, error) {
	files, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(files) == 0 {
		return "", fmt.Errorf("no %s results in %s", pattern, dir)
	}
	sort.Slice(files, func(i, j int) bool {
		a, _ := os.Stat(files[i])
		b, _ := os.Stat(files[j])
		return a.ModTime().Before(b.ModTime())
	})
	return files[len(files)-1], nil
}

// Splice replaces the text from begin through end in the document at path
// with section, which must itself start with begin and end with end. A
// document without the markers gets heading and section appended.
func Splice(path, begin, end, section, heading string) error {
	doc, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	s := string(doc)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i >= 0 && j > i {
		s = s[:i] + section + s[j+len(end):]
	} else {
		s += "\n" + heading + "\n\n" + section + "\n"
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
