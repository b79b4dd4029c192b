// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package cniinstall puts weft's CNI plugin, the reference plugins it
// delegates to and its conflist on a node: the init step of weft's
// DaemonSet (`weftctl install-cni`), run from the image, which has no
// shell. It is idempotent: a second run over an installed node writes
// nothing.
//
// What it does to an existing file differs by file:
//   - weft is weft's own and always installed (when it differs), by
//     rename, so the runtime never runs half a binary;
//   - a reference plugin is installed only where missing. The node's own
//     (from the runtime's package, say) is kept unless UpgradePlugins is
//     set and its version line says it is older than the image's; a
//     version that cannot be read counts as not older;
//   - the conflist gets the newest cniVersion, up to its template's, that
//     every plugin in it supports as installed: portmap older than v1.6.0
//     fails a 1.1.0 conflist (Documentation/cni.md).
package cniinstall

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/sirupsen/logrus"
)

// Defaults: the paths in the image and on a kubeadm-style node.
const (
	DefaultWeftBinary = "/usr/local/bin/weft"
	DefaultPluginSrc  = "/opt/weft/cni/bin"
	DefaultCNIBinDir  = "/opt/cni/bin"
	DefaultConfDir    = "/etc/cni/net.d"
)

// DefaultPlugins are the reference plugins weft's conflist needs: weft
// delegates to bridge and host-local, portmap is chained after it, and
// runtimes set up a pod's lo with loopback.
var DefaultPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// Options say what to install where. Zero values get the defaults above.
type Options struct {
	WeftBinary string   // weft's CNI plugin to install as <CNIBinDir>/weft
	PluginSrc  string   // directory holding the reference plugins to install
	Plugins    []string // reference plugins to install from PluginSrc
	CNIBinDir  string   // the runtime's plugin directory
	ConfDir    string   // the runtime's conflist directory
	// ConfList is the conflist to install (its cniVersion is the newest
	// wanted); it lands as ConfDir/<its base name>. Required.
	ConfList string
	// UpgradePlugins replaces a reference plugin that is older than the
	// one in PluginSrc, by their version lines.
	UpgradePlugins bool
}

func (o *Options) defaults() error {
	if o.WeftBinary == "" {
		o.WeftBinary = DefaultWeftBinary
	}
	if o.PluginSrc == "" {
		o.PluginSrc = DefaultPluginSrc
	}
	if o.Plugins == nil {
		o.Plugins = DefaultPlugins
	}
	if o.CNIBinDir == "" {
		o.CNIBinDir = DefaultCNIBinDir
	}
	if o.ConfDir == "" {
		o.ConfDir = DefaultConfDir
	}
	if o.ConfList == "" {
		return errors.New("conflist: a path is required")
	}
	for _, p := range o.Plugins {
		if p == "" || p == "weft" || strings.ContainsRune(p, '/') {
			return fmt.Errorf("plugins: %q is not a reference plugin name", p)
		}
	}
	return nil
}

// Run installs weft, the reference plugins and the conflist, logging
// every file it writes (and, at debug, every file it leaves).
func Run(ctx context.Context, o Options, log logrus.FieldLogger) error {
	if err := o.defaults(); err != nil {
		return err
	}
	for _, d := range []string{o.CNIBinDir, o.ConfDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := installWeft(o, log); err != nil {
		return err
	}
	for _, p := range o.Plugins {
		if err := installPlugin(ctx, o, p, log); err != nil {
			return err
		}
	}
	return installConfList(ctx, o, log)
}

func installWeft(o Options, log logrus.FieldLogger) error {
	dst := filepath.Join(o.CNIBinDir, "weft")
	same, err := sameContent(o.WeftBinary, dst)
	if err != nil {
		return err
	}
	l := log.WithFields(logrus.Fields{"path": dst, "from": o.WeftBinary})
	if same {
		l.Debug("weft plugin up to date")
		return nil
	}
	if err := copyFile(o.WeftBinary, dst, 0o755); err != nil {
		return err
	}
	l.Info("installed the weft plugin")
	return nil
}

func installPlugin(ctx context.Context, o Options, name string, log logrus.FieldLogger) error {
	src, dst := filepath.Join(o.PluginSrc, name), filepath.Join(o.CNIBinDir, name)
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("plugin %s: %w", name, err)
	}
	l := log.WithFields(logrus.Fields{"plugin": name, "path": dst, "from": src})
	_, err := os.Stat(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := copyFile(src, dst, 0o755); err != nil {
			return err
		}
		l.Info("installed a missing reference plugin")
		return nil
	case err != nil:
		return fmt.Errorf("plugin %s: %w", name, err)
	}
	same, err := sameContent(src, dst)
	if err != nil {
		return err
	}
	if same {
		l.Debug("reference plugin up to date")
		return nil
	}
	have, want := PluginVersion(ctx, dst), PluginVersion(ctx, src)
	l = l.WithFields(logrus.Fields{"version": have.String(), "image_version": want.String()})
	older := have.Less(want)
	switch {
	case older && o.UpgradePlugins:
		if err := copyFile(src, dst, 0o755); err != nil {
			return err
		}
		l.Info("replaced an older reference plugin (--upgrade-plugins)")
	case older:
		l.Warn("kept the node's reference plugin, older than the image's; --upgrade-plugins replaces it")
	default:
		l.Info("kept the node's reference plugin")
	}
	return nil
}

// installConfList writes the conflist with a cniVersion every plugin in
// it supports, as installed in CNIBinDir.
func installConfList(ctx context.Context, o Options, log logrus.FieldLogger) error {
	tmpl, err := os.ReadFile(o.ConfList)
	if err != nil {
		return fmt.Errorf("conflist: %w", err)
	}
	list, err := libcni.ConfListFromBytes(tmpl)
	if err != nil {
		return fmt.Errorf("conflist %s: %w", o.ConfList, err)
	}
	var types []string
	for _, p := range list.Plugins {
		types = append(types, p.Network.Type)
	}
	supported := map[string][]string{}
	for _, t := range types {
		if supported[t] != nil {
			continue
		}
		vs, err := SpecVersions(ctx, filepath.Join(o.CNIBinDir, t))
		if err != nil {
			return fmt.Errorf("conflist %s: plugin %q: %w", o.ConfList, t, err)
		}
		supported[t] = vs
	}
	v, err := commonVersion(list.CNIVersion, types, supported)
	if err != nil {
		return fmt.Errorf("conflist %s: %w", o.ConfList, err)
	}
	out := tmpl
	if v != list.CNIVersion {
		if out, err = setCNIVersion(tmpl, v); err != nil {
			return fmt.Errorf("conflist %s: %w", o.ConfList, err)
		}
	}
	dst := filepath.Join(o.ConfDir, filepath.Base(o.ConfList))
	l := log.WithFields(logrus.Fields{"path": dst, "from": o.ConfList, "cni_version": v})
	if have, err := os.ReadFile(dst); err == nil && bytes.Equal(have, out) {
		l.Debug("conflist up to date")
		return nil
	}
	if err := writeFile(dst, out, 0o644); err != nil {
		return err
	}
	if v != list.CNIVersion {
		l = l.WithField("wanted", list.CNIVersion)
	}
	l.Info("installed the conflist")
	return nil
}

// commonVersion is the newest spec version, at most want, that every
// plugin of types supports.
func commonVersion(want string, types []string, supported map[string][]string) (string, error) {
	var best semver
	bestStr := ""
	limit, ok := parseSemver(want)
	if !ok {
		return "", fmt.Errorf("cniVersion %q: not a version", want)
	}
	for _, cand := range supported[types[0]] {
		cv, ok := parseSemver(cand)
		if !ok || limit.Less(cv) {
			continue
		}
		all := true
		for _, t := range types[1:] {
			all = all && slices.Contains(supported[t], cand)
		}
		if all && (bestStr == "" || best.Less(cv)) {
			best, bestStr = cv, cand
		}
	}
	if bestStr == "" {
		var parts []string
		for _, t := range types {
			parts = append(parts, fmt.Sprintf("%s %v", t, supported[t]))
		}
		return "", fmt.Errorf("no spec version up to %s that all plugins support (%s): install newer CNI reference plugins or run with --upgrade-plugins", want, strings.Join(parts, ", "))
	}
	return bestStr, nil
}

// setCNIVersion changes only the top-level cniVersion of a conflist,
// keeping the rest of the text as the operator wrote it.
func setCNIVersion(conf []byte, v string) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(conf, &doc); err != nil {
		return nil, err
	}
	old, ok := doc["cniVersion"]
	if !ok {
		return nil, errors.New("no cniVersion")
	}
	nv, _ := json.Marshal(v)
	// The raw old value appears once as the value of "cniVersion".
	i := bytes.Index(conf, []byte(`"cniVersion"`))
	if i < 0 {
		return nil, errors.New("cniVersion: key not found in the text")
	}
	j := bytes.Index(conf[i:], old)
	if j < 0 {
		return nil, errors.New("cniVersion: value not found in the text")
	}
	j += i
	out := slices.Concat(conf[:j], nv, conf[j+len(old):])
	if !json.Valid(out) {
		return nil, errors.New("cniVersion: rewriting it broke the JSON")
	}
	return out, nil
}

func sameContent(a, b string) (bool, error) {
	ha, err := fileHash(a)
	if err != nil {
		return false, err
	}
	hb, err := fileHash(b)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return ha == hb, nil
}

func fileHash(path string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("read %s: %w", path, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("install %s: %w", dst, err)
	}
	return writeFile(dst, b, mode)
}

// writeFile writes dst through a temporary file in its directory and a
// rename: a runtime running the plugin, or reading the conflist, sees the
// old file or the new one, never part of one (and a running plugin keeps
// its old inode).
func writeFile(dst string, b []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("install %s: %w", dst, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("install %s: %w", dst, err)
	}
	return nil
}
