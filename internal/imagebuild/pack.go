// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Entrypoint is the image's default command: weftd itself, no shell (the
// image has none). The install step and the Job name their own command.
var Entrypoint = []string{"/" + BinDir + "/weftd"}

// platformRoot is one platform's staged root file system.
type platformRoot struct {
	platform v1.Platform
	dir      string
}

// buildIndex makes one image per platform, each a single layer on an
// empty base, and the OCI index over them.
func buildIndex(roots []platformRoot, tag string, epoch time.Time) (v1.ImageIndex, error) {
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, r := range roots {
		img, err := buildImage(r, tag, epoch)
		if err != nil {
			return nil, err
		}
		p := r.platform
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &p},
		})
	}
	return idx, nil
}

func buildImage(r platformRoot, tag string, epoch time.Time) (v1.Image, error) {
	layer, err := layerFromDir(r.dir, epoch)
	if err != nil {
		return nil, fmt.Errorf("layer for %s: %w", r.platform, err)
	}
	cfg := &v1.ConfigFile{
		Architecture: r.platform.Architecture,
		OS:           r.platform.OS,
		Variant:      r.platform.Variant,
		Created:      v1.Time{Time: epoch},
		Config: v1.Config{
			Entrypoint: Entrypoint,
			Env:        []string{"PATH=/" + BinDir},
			Labels: map[string]string{
				"org.opencontainers.image.title":    "weft",
				"org.opencontainers.image.version":  tag,
				"org.opencontainers.image.source":   "https://github.com/weft-net/weft",
				"org.opencontainers.image.licenses": "Apache-2.0",
			},
		},
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, fmt.Errorf("image config for %s: %w", r.platform, err)
	}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History:   v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "make image", Comment: "weftd, weft, weftctl and the reference CNI plugins"},
	})
	if err != nil {
		return nil, fmt.Errorf("image for %s: %w", r.platform, err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON), nil
}

// layerFromDir packs dir as one gzip layer: entries in lexical order,
// owner 0:0, mode 0755 for directories and executables (0644 else),
// every time epoch, and a gzip header without name or time, so the bytes
// depend on the files' contents alone.
func layerFromDir(dir string, epoch time.Time) (v1.Layer, error) {
	var raw bytes.Buffer
	if err := writeTree(&raw, dir, epoch, true); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	b := gz.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// writeTree writes dir's tree as a tar stream with normalised headers:
// files are 0644, or 0755 where exec is set and one is executable. Only
// directories and regular files may be in it.
func writeTree(w io.Writer, dir string, epoch time.Time, exec bool) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		hdr := &tar.Header{Name: rel, Mode: 0o755, ModTime: epoch, Uid: 0, Gid: 0}
		switch {
		case d.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
			return tw.WriteHeader(hdr)
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if !exec || fi.Mode().Perm()&0o111 == 0 {
				hdr.Mode = 0o644
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		default:
			return fmt.Errorf("%s: only directories and regular files go into the image", path)
		}
	})
	if err != nil {
		return fmt.Errorf("pack %s: %w", dir, err)
	}
	return tw.Close()
}

// Annotations naming the image in the layout's index.json: containerd
// takes its image name from the first, OCI tools the tag from the second.
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// writeLayoutTar writes idx as an OCI image layout and packs that into
// out (replaced by rename, so a reader never sees half a file). It returns
// out's size.
func writeLayoutTar(out string, idx v1.ImageIndex, ref, tag string, epoch time.Time) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	dir, err := os.MkdirTemp(filepath.Dir(out), ".weft-image-layout-")
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return 0, fmt.Errorf("OCI layout: %w", err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		annotationContainerdName: ref,
		annotationRefName:        tag,
	})); err != nil {
		return 0, fmt.Errorf("OCI layout: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(out), ".weft-image-*.tar")
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	defer os.Remove(f.Name())
	err = writeTree(f, dir, epoch, false)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	fi, err := os.Stat(f.Name())
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Rename(f.Name(), out); err != nil {
		return 0, fmt.Errorf("write %s: %w", out, err)
	}
	return fi.Size(), nil
}
