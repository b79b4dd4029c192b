// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStateStore(t *testing.T) {
	s := newStateStore(t.TempDir(), "weft")
	a := attachment{"ctr-1.a_b", "eth0"}
	if _, err := s.Load(a); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load before Save: %v, want ErrNotExist", err)
	}
	for _, conf := range []string{`{"type":"bridge"}`, `{"type":"ptp"}`} {
		if err := s.Save(a, []byte(conf)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(a)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != conf {
			t.Errorf("Load = %s, want %s", got, conf)
		}
	}
	if got := listDir(t, s.dir); !cmp.Equal(got, []string{"ctr-1.a_b:eth0"}) {
		t.Errorf("store holds %v, want only the attachment's file (no temporary files)", got)
	}
	for range 2 { // a missing file is not an error
		if err := s.Remove(a); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Load(a); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load after Remove: %v, want ErrNotExist", err)
	}
}

func TestStateStoreSweep(t *testing.T) {
	s := newStateStore(t.TempDir(), "weft")
	keep := attachment{"keep", "eth0"}
	for _, a := range []attachment{keep, {"keep", "net1"}, {"gone", "eth0"}, {"a-b:c", "eth0"}} {
		if err := s.Save(a, []byte(`{"type":"bridge"}`)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(s.dir, "corrupt:eth0"), "{not json")
	writeFile(t, filepath.Join(s.dir, "README"), "not ours")
	writeFile(t, filepath.Join(s.dir, ".tmp-young"), "")
	writeFile(t, filepath.Join(s.dir, ".tmp-old"), "")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(s.dir, ".tmp-old"), old, old); err != nil {
		t.Fatal(err)
	}

	removed, err := s.Sweep(map[attachment]bool{keep: true})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(removed, func(i, j int) bool {
		return removed[i].ContainerID+removed[i].IfName < removed[j].ContainerID+removed[j].IfName
	})
	want := []attachment{{"a-b", "c:eth0"}, {"corrupt", "eth0"}, {"gone", "eth0"}, {"keep", "net1"}}
	if diff := cmp.Diff(want, removed); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{".tmp-young", "README", "keep:eth0"}, listDir(t, s.dir)); diff != "" {
		t.Errorf("left in store (-want +got):\n%s", diff)
	}
}

func TestSweepHostLocal(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "weft")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The layout host-local v1.9.1 writes.
	files := map[string]string{
		"10.244.3.2":          "keep\r\neth0",
		"10.244.3.3":          "keep\r\nnet1",
		"10.244.3.4":          "gone\r\neth0",
		"10.244.3.5":          "keep",   // older host-local: container ID only
		"10.244.3.6":          "legacy", // same, stale
		"fd00:10:244:3::2":    "gone\r\neth0\n",
		"last_reserved_ip.0":  "10.244.3.6",
		"lock":                "",
		"not-an-address.json": "gone\r\neth0",
	}
	for name, content := range files {
		writeFile(t, filepath.Join(dir, name), content)
	}
	released, err := sweepHostLocal(dir, map[attachment]bool{{"keep", "eth0"}: true})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(released, func(i, j int) bool { return released[i].Less(released[j]) })
	want := []netip.Addr{
		netip.MustParseAddr("10.244.3.3"), netip.MustParseAddr("10.244.3.4"),
		netip.MustParseAddr("10.244.3.6"), netip.MustParseAddr("fd00:10:244:3::2"),
	}
	if diff := cmp.Diff(want, released, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("released (-want +got):\n%s", diff)
	}
	wantLeft := []string{"10.244.3.2", "10.244.3.5", "last_reserved_ip.0", "lock", "not-an-address.json"}
	if diff := cmp.Diff(wantLeft, listDir(t, dir)); diff != "" {
		t.Errorf("left in store (-want +got):\n%s", diff)
	}

	if got, err := sweepHostLocal(filepath.Join(t.TempDir(), "none"), nil); err != nil || got != nil {
		t.Errorf("sweep of a missing store = %v, %v; want nothing", got, err)
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
