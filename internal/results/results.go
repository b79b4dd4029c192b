// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package results is what the measuring commands share about their result
// files (bench/results/*.json) and the doc sections generated from them:
// the commit and machine a result was measured on, the newest result of a
// kind, and the replacement of one generated section of a markdown file
// between its markers. `make bench-doc` (internal/benchrun) and `make
// chaos-doc` (internal/chaos/cmd/chaosdoc) regenerate their tables with it.
package results

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// Commit is the checkout's short commit, "unknown" outside git.
func Commit() string {
	b, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// Machine describes the machine for a result: CPU model and count, Go and
// kernel version.
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

// Newest returns the most recently written file in dir matching pattern
// (filepath.Match syntax, e.g. "chaos-*.json"): each kind of result has its
// own name pattern, so one directory holds them all.
func Newest(dir, pattern string) (string, error) {
	files, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(files) == 0 {
		return "", fmt.Errorf("no results %s in %s", pattern, dir)
	}
	mod := func(f string) int64 {
		st, err := os.Stat(f)
		if err != nil {
			return 0
		}
		return st.ModTime().UnixNano()
	}
	sort.Slice(files, func(i, j int) bool { return mod(files[i]) < mod(files[j]) })
	return files[len(files)-1], nil
}

// EndMark closes every generated section.
const EndMark = "<!-- END GENERATED -->"

// BeginMark opens the generated section named name (the make target that
// writes it, e.g. "make chaos-doc").
func BeginMark(name string) string { return "<!-- BEGIN GENERATED: " + name + " -->" }

// ReplaceSection puts body between the markers of section name in the
// markdown file at path. Without the markers, the section is appended
// under heading. A file may hold several sections: each ends at the first
// end mark after its own begin mark.
func ReplaceSection(path, name, heading, body string) error {
	doc, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(doc)
	begin := BeginMark(name)
	section := begin + "\n" + strings.TrimRight(body, "\n") + "\n" + EndMark
	i := strings.Index(s, begin)
	j := -1
	if i >= 0 {
		j = strings.Index(s[i:], EndMark)
	}
	if j >= 0 {
		s = s[:i] + section + s[i+j+len(EndMark):]
	} else {
		s += "\n" + heading + "\n\n" + section + "\n"
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
