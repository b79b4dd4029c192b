// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/weft-net/weft/internal/testbin"
)

// TestImageReproducible builds the image twice, in different directories
// and with the sources' files touched in between, and wants the same
// digest; then checks what is in it: both platforms, the binaries built
// for each (ELF machine), owners 0:0, every time the epoch, no shell.
func TestImageReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: cross-builds every binary twice")
	}
	epoch := time.Unix(1767225600, 0).UTC()
	opts := func(dir string) Options {
		return Options{
			Repo: "ghcr.io/weft-net/weft", Tag: "v0.0.0-test+meta",
			LDFlags: "-s -w -X github.com/weft-net/weft/internal/version.Version=v0.0.0-test",
			Tags:    "grpcnotrace",
			Out:     filepath.Join(dir, "out", "weft-image.tar"), WorkDir: filepath.Join(dir, "work"),
			ModRoot: testbin.RepoRoot(), Epoch: epoch,
			Platforms: []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}},
		}
	}
	var results []*Result
	var first Options
	for i := range 2 {
		o := opts(t.TempDir())
		start := time.Now()
		res, err := Build(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("build %d: %s in %s, %d bytes", i+1, res.Digest, time.Since(start).Round(time.Second), res.Size)
		results = append(results, res)
		if i == 0 {
			first = o
			// The staged files get new times: the image must not care.
			_ = filepath.WalkDir(o.WorkDir, func(p string, _ os.DirEntry, _ error) error {
				return os.Chtimes(p, time.Now(), time.Now())
			})
		}
	}
	if results[0].Digest != results[1].Digest {
		t.Errorf("two builds differ: %s and %s", results[0].Digest, results[1].Digest)
	}
	if results[0].Ref != "ghcr.io/weft-net/weft:v0.0.0-test-meta" {
		t.Errorf("reference %q: the '+' of the version must become '-'", results[0].Ref)
	}
	checkImage(t, first.Out, results[0], epoch)
}

// checkImage opens the tarball as containerd would and checks each
// platform's image.
func checkImage(t *testing.T, tarPath string, res *Result, epoch time.Time) {
	t.Helper()
	dir := t.TempDir()
	untar(t, tarPath, dir, epoch)
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].Digest != res.Digest ||
		tm.Manifests[0].Annotations[annotationContainerdName] != res.Ref {
		t.Fatalf("index.json %+v: want one entry, %s named %s", tm.Manifests, res.Digest, res.Ref)
	}
	idx, err := top.ImageIndex(res.Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	var platforms []string
	for _, d := range im.Manifests {
		platforms = append(platforms, d.Platform.String())
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Architecture != d.Platform.Architecture || cfg.OS != "linux" {
			t.Errorf("%s: config says %s/%s", d.Platform, cfg.OS, cfg.Architecture)
		}
		if !slices.Equal(cfg.Config.Entrypoint, []string{"/usr/local/bin/weftd"}) || !cfg.Created.Equal(epoch) {
			t.Errorf("%s: entrypoint %v, created %s", d.Platform, cfg.Config.Entrypoint, cfg.Created)
		}
		layers, err := img.Layers()
		if err != nil || len(layers) != 1 {
			t.Fatalf("%s: %d layers, %v; want one on an empty base", d.Platform, len(layers), err)
		}
		files := layerFiles(t, layers[0], epoch)
		want := []string{"usr/local/bin/weftd", "usr/local/bin/weft", "usr/local/bin/weftctl",
			"opt/weft/cni/bin/bridge", "opt/weft/cni/bin/host-local", "opt/weft/cni/bin/portmap", "opt/weft/cni/bin/loopback"}
		for _, name := range want {
			b, ok := files[name]
			if !ok {
				t.Errorf("%s: %s missing", d.Platform, name)
				continue
			}
			f, err := elf.NewFile(bytes.NewReader(b))
			if err != nil {
				t.Errorf("%s: %s: %v", d.Platform, name, err)
				continue
			}
			if f.Machine != machines[d.Platform.Architecture] {
				t.Errorf("%s: %s is built for %s", d.Platform, name, f.Machine)
			}
			if f.Section(".interp") != nil {
				t.Errorf("%s: %s is dynamically linked; the image has no libc", d.Platform, name)
			}
		}
		if len(files) != len(want) {
			t.Errorf("%s: %d files in the layer, want exactly %v", d.Platform, len(files), want)
		}
	}
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64/v8"}) {
		t.Errorf("platforms %v", platforms)
	}
}

// layerFiles returns the regular files of a layer, failing on a header
// that is not normalised.
func layerFiles(t *testing.T, l v1.Layer, epoch time.Time) map[string][]byte {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(epoch) {
			t.Errorf("%s: owner %d:%d, time %s; want 0:0 at %s", h.Name, h.Uid, h.Gid, h.ModTime, epoch)
		}
		if strings.HasSuffix(h.Name, "/sh") {
			t.Errorf("%s: the image must have no shell", h.Name)
		}
		if h.Typeflag == tar.TypeReg {
			if h.Mode != 0o755 {
				t.Errorf("%s: mode %o, want 755", h.Name, h.Mode)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = b
		}
	}
	return files
}

func untar(t *testing.T, path, dir string, epoch time.Time) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(epoch) || h.Uid != 0 {
			t.Errorf("tarball entry %s: time %s, uid %d", h.Name, h.ModTime, h.Uid)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSanitizeTag(t *testing.T) {
	for in, want := range map[string]string{
		"v0.2.0": "v0.2.0", "v0.2.0-3-gabc123-dirty": "v0.2.0-3-gabc123-dirty", "e316fb8": "e316fb8", "v1.0.0+build.5": "v1.0.0-build.5",
	} {
		if got, err := sanitizeTag(in); err != nil || got != want {
			t.Errorf("sanitizeTag(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-x", "a b", strings.Repeat("a", 129)} {
		if _, err := sanitizeTag(bad); err == nil {
			t.Errorf("sanitizeTag(%q) accepted", bad)
		}
	}
}
