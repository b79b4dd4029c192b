// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package results

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestReplaceSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doc.md")
	if err := os.WriteFile(path, []byte("# Doc\n\nintro\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	steps := []struct{ name, body string }{
		{"make a", "table a1\n"},
		{"make b", "table b1"},
		{"make a", "table a2"},
	}
	for _, s := range steps {
		if err := ReplaceSection(path, s.name, "## "+s.name, s.body); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	want := "# Doc\n\nintro\n\n## make a\n\n" + BeginMark("make a") + "\ntable a2\n" + EndMark + "\n" +
		"\n## make b\n\n" + BeginMark("make b") + "\ntable b1\n" + EndMark + "\n"
	if string(b) != want {
		t.Errorf("doc:\n%s\nwant:\n%s", b, want)
	}
}

func TestNewest(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	for i, name := range []string{"2026-01-02-aaa.json", "chaos-2026-01-01-bbb.json", "2026-01-01-ccc.json"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
		_ = os.Chtimes(p, old.Add(time.Duration(i)*time.Minute), old.Add(time.Duration(i)*time.Minute))
	}
	if got, _ := Newest(dir, "[0-9]*.json"); filepath.Base(got) != "2026-01-01-ccc.json" {
		t.Errorf("newest bench result: %s", got)
	}
	if got, _ := Newest(dir, "chaos-*.json"); filepath.Base(got) != "chaos-2026-01-01-bbb.json" {
		t.Errorf("newest chaos result: %s", got)
	}
	if _, err := Newest(dir, "scale-*.json"); err == nil {
		t.Error("no error without a matching file")
	}
}
