// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Where the image keeps its files. The install step (weftctl install-cni)
// copies the plugins from PluginDir; weft's own binaries stay on PATH.
const (
	BinDir    = "usr/local/bin"
	PluginDir = "opt/weft/cni/bin"
)

// Binaries are weft's own commands, built with the Makefile's LDFLAGS.
var Binaries = []string{"weftd", "weft", "weftctl"}

// pluginModule is where the reference plugins come from, at the version
// go.mod pins (its tool block), as `make cni-plugins` builds them.
const (
	pluginModuleRoot = "github.com/containernetworking/plugins"
	pluginModule     = pluginModuleRoot + "/plugins"
)

// Plugins are the reference CNI plugins the image carries, by package
// under pluginModule.
var Plugins = []string{"main/bridge", "ipam/host-local", "meta/portmap", "main/loopback"}

// Options say what to build and where.
type Options struct {
	Repo, Tag string
	LDFlags   string
	Tags      string // build tags, comma-separated (the Makefile's GOTAGS)
	Out       string // the OCI layout tarball
	WorkDir   string // staged root file systems, one per platform
	Go        string // the go command
	ModRoot   string // the module root to build in (default: the current directory)
	Platforms []v1.Platform
	Epoch     time.Time // every timestamp in the image
}

// Result is what Build wrote.
type Result struct {
	Ref       string  // repo:tag
	Digest    v1.Hash // the image index's digest: what a registry and containerd call the image
	Size      int64   // bytes of the tarball
	Manifests []PlatformManifest
}

// PlatformManifest is one platform's image in the index.
type PlatformManifest struct {
	Platform string
	Digest   v1.Hash
}

// Build cross-builds every platform's binaries into WorkDir, packs them
// and writes the tarball.
func Build(ctx context.Context, o Options) (*Result, error) {
	if o.Repo == "" {
		return nil, errors.New("repo is required")
	}
	tag, err := sanitizeTag(o.Tag)
	if err != nil {
		return nil, err
	}
	if len(o.Platforms) == 0 {
		return nil, errors.New("no platforms")
	}
	if o.Go == "" {
		o.Go = "go"
	}
	ref := o.Repo + ":" + tag
	pv, err := pluginsVersion(ctx, o)
	if err != nil {
		return nil, err
	}
	var roots []platformRoot
	for _, p := range o.Platforms {
		dir := filepath.Join(o.WorkDir, p.OS+"-"+p.Architecture)
		if err := crossBuild(ctx, o, p, pv, dir); err != nil {
			return nil, err
		}
		roots = append(roots, platformRoot{platform: p, dir: dir})
	}
	idx, err := buildIndex(roots, tag, o.Epoch)
	if err != nil {
		return nil, err
	}
	size, err := writeLayoutTar(o.Out, idx, ref, tag, o.Epoch)
	if err != nil {
		return nil, err
	}
	res := &Result{Ref: ref, Size: size}
	if res.Digest, err = idx.Digest(); err != nil {
		return nil, fmt.Errorf("index digest: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("index manifest: %w", err)
	}
	for _, d := range im.Manifests {
		res.Manifests = append(res.Manifests, PlatformManifest{Platform: d.Platform.String(), Digest: d.Digest})
	}
	return res, nil
}

// pluginsVersion is the containernetworking/plugins version go.mod pins.
func pluginsVersion(ctx context.Context, o Options) (string, error) {
	cmd := exec.CommandContext(ctx, o.Go, "list", "-m", "-f", "{{.Version}}", pluginModuleRoot)
	cmd.Dir = o.ModRoot
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w", pluginModuleRoot, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// crossBuild builds the binaries of platform p into dir/usr/local/bin and
// dir/opt/weft/cni/bin, replacing what an earlier run left there.
func crossBuild(ctx context.Context, o Options, p v1.Platform, pluginsVer, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clean %s: %w", dir, err)
	}
	bin, plugins := filepath.Join(dir, BinDir), filepath.Join(dir, PluginDir)
	for _, d := range []string{bin, plugins} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("stage %s: %w", p, err)
		}
	}
	var own []string
	for _, b := range Binaries {
		own = append(own, "./cmd/"+b)
	}
	var refs []string
	for _, pl := range Plugins {
		refs = append(refs, pluginModule+"/"+pl)
	}
	// The plugins are the builds `make cni-plugins` makes: their release
	// stamped into their version line, as upstream's release builds do,
	// which the install step compares.
	builds := [][]string{
		append([]string{"build", "-trimpath", "-tags", o.Tags, "-ldflags", o.LDFlags, "-o", bin + "/"}, own...),
		append([]string{"build", "-trimpath", "-ldflags", "-X " + pluginModuleRoot + "/pkg/utils/buildversion.BuildVersion=" + pluginsVer, "-o", plugins + "/"}, refs...),
	}
	for _, args := range builds {
		cmd := exec.CommandContext(ctx, o.Go, args...)
		cmd.Dir = o.ModRoot
		cmd.Env = append(os.Environ(), "GOOS="+p.OS, "GOARCH="+p.Architecture, "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build for %s: %s %s: %w\n%s", p, o.Go, strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// tagRE is the grammar of an image tag (the distribution spec's).
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// sanitizeTag turns a version (git describe output) into a tag: a '+' of
// build metadata, which a tag cannot hold, becomes '-'.
func sanitizeTag(v string) (string, error) {
	t := strings.Map(func(r rune) rune {
		if r == '+' || r == '/' {
			return '-'
		}
		return r
	}, v)
	if !tagRE.MatchString(t) {
		return "", fmt.Errorf("tag %q: not a valid image tag ([A-Za-z0-9_][A-Za-z0-9_.-], at most 128)", v)
	}
	return t, nil
}

func parsePlatform(s string) (v1.Platform, error) {
	os, arch, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok || os != "linux" || (arch != "amd64" && arch != "arm64") {
		return v1.Platform{}, fmt.Errorf("platform %q: want linux/amd64 or linux/arm64", s)
	}
	p := v1.Platform{OS: os, Architecture: arch}
	if arch == "arm64" {
		// What containerd and registries normalise arm64 to.
		p.Variant = "v8"
	}
	return p, nil
}
