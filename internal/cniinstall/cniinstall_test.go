// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package cniinstall

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/weft-net/weft/internal/testbin"
)

// The tests install real binaries: weft from `make build`, the pinned
// reference plugins from `make cni-plugins` (bin/cni) as the image's, and
// the v1.1.1 release from `make cni-matrix` as a node's older ones.

// oldPlugins is the release standing for plugins a node already has: it
// speaks CNI spec 1.0.0 at most, so portmap fails a 1.1.0 conflist.
const oldPlugins = "v1.1.1"

type fixture struct {
	opts Options
	log  *logtest.Hook
	lg   *logrus.Logger
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped with -short: runs the binaries `make build cni-plugins cni-matrix` build")
	}
	for _, p := range DefaultPlugins {
		testbin.CNIPlugin(t, p)
	}
	dir := t.TempDir()
	lg, hook := logtest.NewNullLogger()
	lg.SetLevel(logrus.DebugLevel)
	return &fixture{
		opts: Options{
			WeftBinary: testbin.Path(t, "weft"),
			PluginSrc:  testbin.CNIPath(),
			CNIBinDir:  filepath.Join(dir, "opt", "cni", "bin"),
			ConfDir:    filepath.Join(dir, "etc", "cni", "net.d"),
			ConfList:   filepath.Join(testbin.RepoRoot(), "dist", "cni", "10-weft.conflist"),
		},
		log: hook, lg: lg,
	}
}

// run runs the install step and returns the paths it logged as written.
func (f *fixture) run(t *testing.T) []string {
	t.Helper()
	f.log.Reset()
	if err := Run(context.Background(), f.opts, f.lg); err != nil {
		t.Fatal(err)
	}
	var written []string
	for _, e := range f.log.AllEntries() {
		t.Logf("%s %s %v", e.Level, e.Message, e.Data)
		if strings.HasPrefix(e.Message, "installed") || strings.HasPrefix(e.Message, "replaced") {
			written = append(written, e.Data["path"].(string))
		}
	}
	slices.Sort(written)
	return written
}

// snapshot records every file's inode and modification time: a rename
// gives a new inode, so an unchanged snapshot means nothing was written.
func snapshot(t *testing.T, dirs ...string) map[string][2]int64 {
	t.Helper()
	m := map[string][2]int64{}
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			var st syscall.Stat_t
			p := filepath.Join(d, e.Name())
			if err := syscall.Stat(p, &st); err != nil {
				t.Fatal(err)
			}
			m[p] = [2]int64{int64(st.Ino), st.Mtim.Nano()}
		}
	}
	return m
}

func (f *fixture) paths(names ...string) []string {
	var ps []string
	for _, n := range names {
		if n == "10-weft.conflist" {
			ps = append(ps, filepath.Join(f.opts.ConfDir, n))
		} else {
			ps = append(ps, filepath.Join(f.opts.CNIBinDir, n))
		}
	}
	slices.Sort(ps)
	return ps
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

func conflistVersion(t *testing.T, f *fixture) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.opts.ConfDir, "10-weft.conflist"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		CNIVersion string `json:"cniVersion"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.CNIVersion
}

// seedOld puts the older plugin release into the node's plugin directory.
func (f *fixture) seedOld(t *testing.T) {
	t.Helper()
	old := filepath.Join(testbin.Dir(), "cni-"+oldPlugins)
	if err := os.MkdirAll(f.opts.CNIBinDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range DefaultPlugins {
		b, err := os.ReadFile(filepath.Join(old, p))
		if err != nil {
			t.Fatalf("%v: run `make cni-matrix` first (make test does)", err)
		}
		if err := os.WriteFile(filepath.Join(f.opts.CNIBinDir, p), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInstallFreshNode: an empty node gets weft, all four plugins and the
// conflist at 1.1.0, each logged; a second run writes nothing.
func TestInstallFreshNode(t *testing.T) {
	f := newFixture(t)
	got := f.run(t)
	want := f.paths("weft", "bridge", "host-local", "portmap", "loopback", "10-weft.conflist")
	if !slices.Equal(got, want) {
		t.Errorf("logged writes %v, want %v", got, want)
	}
	if !sameFile(t, f.opts.WeftBinary, filepath.Join(f.opts.CNIBinDir, "weft")) {
		t.Error("installed weft differs from its source")
	}
	for _, p := range DefaultPlugins {
		dst := filepath.Join(f.opts.CNIBinDir, p)
		if !sameFile(t, filepath.Join(f.opts.PluginSrc, p), dst) {
			t.Errorf("installed %s differs from its source", p)
		}
		if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: mode %v, %v; want 0755", p, fi.Mode(), err)
		}
	}
	if v := conflistVersion(t, f); v != "1.1.0" {
		t.Errorf("conflist cniVersion %s, want 1.1.0 with the pinned plugins", v)
	}
	if !sameFile(t, f.opts.ConfList, filepath.Join(f.opts.ConfDir, "10-weft.conflist")) {
		t.Error("a conflist every plugin supports as it is was not installed verbatim")
	}
	before := snapshot(t, f.opts.CNIBinDir, f.opts.ConfDir)
	if again := f.run(t); len(again) != 0 {
		t.Errorf("second run wrote %v", again)
	}
	if after := snapshot(t, f.opts.CNIBinDir, f.opts.ConfDir); !equalMaps(before, after) {
		t.Errorf("second run changed files: before %v, after %v", before, after)
	}
}

// TestInstallKeepsOlderPlugins: without --upgrade-plugins a node's own
// plugins stay even when older (with a warning naming both versions),
// and the conflist drops to the 1.0.0 that old portmap speaks. weft
// itself is replaced whatever was there.
func TestInstallKeepsOlderPlugins(t *testing.T) {
	f := newFixture(t)
	f.seedOld(t)
	// A different binary under weft's name: always replaced.
	b, err := os.ReadFile(filepath.Join(f.opts.CNIBinDir, "loopback"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.opts.CNIBinDir, "weft"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	got := f.run(t)
	if want := f.paths("weft", "10-weft.conflist"); !slices.Equal(got, want) {
		t.Errorf("logged writes %v, want %v", got, want)
	}
	old := filepath.Join(testbin.Dir(), "cni-"+oldPlugins)
	for _, p := range DefaultPlugins {
		if !sameFile(t, filepath.Join(old, p), filepath.Join(f.opts.CNIBinDir, p)) {
			t.Errorf("%s was replaced without --upgrade-plugins", p)
		}
	}
	if !sameFile(t, f.opts.WeftBinary, filepath.Join(f.opts.CNIBinDir, "weft")) {
		t.Error("weft was not replaced")
	}
	warned := 0
	for _, e := range f.log.AllEntries() {
		if e.Level == logrus.WarnLevel && strings.Contains(e.Message, "older than the image's") {
			warned++
			if e.Data["version"] != oldPlugins || !strings.HasPrefix(e.Data["image_version"].(string), "v") {
				t.Errorf("warning names versions %v and %v", e.Data["version"], e.Data["image_version"])
			}
		}
	}
	if warned != len(DefaultPlugins) {
		t.Errorf("%d warnings about older plugins, want %d", warned, len(DefaultPlugins))
	}
	if v := conflistVersion(t, f); v != "1.0.0" {
		t.Errorf("conflist cniVersion %s, want 1.0.0 with portmap %s", v, oldPlugins)
	}
	if again := f.run(t); len(again) != 0 {
		t.Errorf("second run wrote %v", again)
	}
}

// TestInstallUpgradePlugins: --upgrade-plugins replaces older plugins,
// the conflist goes back to 1.1.0, and a second run writes nothing.
func TestInstallUpgradePlugins(t *testing.T) {
	f := newFixture(t)
	f.seedOld(t)
	f.opts.UpgradePlugins = true
	got := f.run(t)
	want := f.paths("weft", "bridge", "host-local", "portmap", "loopback", "10-weft.conflist")
	if !slices.Equal(got, want) {
		t.Errorf("logged writes %v, want %v", got, want)
	}
	for _, p := range DefaultPlugins {
		if !sameFile(t, filepath.Join(f.opts.PluginSrc, p), filepath.Join(f.opts.CNIBinDir, p)) {
			t.Errorf("%s not upgraded", p)
		}
	}
	if v := conflistVersion(t, f); v != "1.1.0" {
		t.Errorf("conflist cniVersion %s after the upgrade, want 1.1.0", v)
	}
	if again := f.run(t); len(again) != 0 {
		t.Errorf("second run wrote %v", again)
	}
}

// TestInstallUpgradeKeepsNewerAndUnknown: --upgrade-plugins never
// replaces a plugin whose version line is unknown (a build without its
// version stamped) nor one newer than the image's.
func TestInstallUpgradeKeepsNewerAndUnknown(t *testing.T) {
	f := newFixture(t)
	f.opts.UpgradePlugins = true
	f.opts.Plugins = []string{"loopback", "bridge"}
	// The image's plugins are v1.1.1 here, the node's the pinned newer ones.
	f.opts.PluginSrc = filepath.Join(testbin.Dir(), "cni-"+oldPlugins)
	if err := os.MkdirAll(f.opts.CNIBinDir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(testbin.CNIPath(), "loopback"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.opts.CNIBinDir, "loopback"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	unknown := "#!/bin/sh\necho 'CNI bridge plugin version unknown' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(f.opts.CNIBinDir, "bridge"), []byte(unknown), 0o755); err != nil {
		t.Fatal(err)
	}
	// Only weft and portmap are run for the conflist: give it weft alone.
	conf := filepath.Join(t.TempDir(), "10-weft.conflist")
	if err := os.WriteFile(conf, []byte(`{"cniVersion":"1.1.0","name":"weft","plugins":[{"type":"weft"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	f.opts.ConfList = conf
	got := f.run(t)
	if want := f.paths("weft", "10-weft.conflist"); !slices.Equal(got, want) {
		t.Errorf("logged writes %v, want %v", got, want)
	}
	if !sameFile(t, filepath.Join(testbin.CNIPath(), "loopback"), filepath.Join(f.opts.CNIBinDir, "loopback")) {
		t.Error("a newer loopback was replaced by an older one")
	}
	if s, _ := os.ReadFile(filepath.Join(f.opts.CNIBinDir, "bridge")); string(s) != unknown {
		t.Error("a bridge of unknown version was replaced")
	}
}

// TestInstallNoCommonVersion: a conflist asking for a spec version no
// installed portmap speaks fails with the plugins and versions named.
func TestInstallNoCommonVersion(t *testing.T) {
	f := newFixture(t)
	conf := filepath.Join(t.TempDir(), "10-weft.conflist")
	if err := os.WriteFile(conf, []byte(`{"cniVersion":"0.2.0","name":"weft","plugins":[{"type":"weft"},{"type":"portmap"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	f.opts.ConfList = conf
	err := Run(context.Background(), f.opts, f.lg)
	if err == nil || !strings.Contains(err.Error(), "no spec version up to 0.2.0") || !strings.Contains(err.Error(), "portmap [") {
		t.Fatalf("error %v; want one naming the version and the plugins' versions", err)
	}
	if _, err := os.Stat(filepath.Join(f.opts.ConfDir, "10-weft.conflist")); err == nil {
		t.Error("a conflist was written although no version fits")
	}
}

// TestPluginVersionLines reads the version lines of the real builds.
func TestPluginVersionLines(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pinned := PluginVersion(ctx, filepath.Join(f.opts.PluginSrc, "bridge"))
	old := PluginVersion(ctx, filepath.Join(testbin.Dir(), "cni-"+oldPlugins, "bridge"))
	if old.String() != oldPlugins {
		t.Errorf("v1.1.1 bridge reads as %q", old)
	}
	if !old.Less(pinned) || pinned.Less(old) {
		t.Errorf("%s vs %s: want the pinned release newer", old, pinned)
	}
	if w := PluginVersion(ctx, f.opts.WeftBinary); w.Raw != "" || w.Less(pinned) || pinned.Less(w) {
		t.Errorf("weft's line reads as plugin version %q; want unknown, comparable to nothing", w)
	}
}

func TestSetCNIVersionKeepsText(t *testing.T) {
	in := "{\n  \"name\": \"x\",\n  \"cniVersion\" : \"1.1.0\",\n  \"plugins\": [{\"type\": \"weft\", \"cniVersion\": \"1.1.0\"}]\n}\n"
	out, err := setCNIVersion([]byte(in), "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(in, `"cniVersion" : "1.1.0"`, `"cniVersion" : "1.0.0"`, 1)
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{}, "conflist: a path is required"},
		{Options{ConfList: "x", Plugins: []string{"../bridge"}}, `plugins: "../bridge"`},
		{Options{ConfList: "x", Plugins: []string{"weft"}}, `plugins: "weft"`},
	} {
		err := tc.o.defaults()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
}

func equalMaps(a, b map[string][2]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
