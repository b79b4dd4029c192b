// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	cniversion "github.com/containernetworking/cni/pkg/version"
)

// statusVersion is the first CNI spec version with STATUS and GC. A
// delegate that does not list it fails STATUS ("missing containerID", as
// bridge v1.1.1 does), which would keep a node NotReady forever.
const statusVersion = "1.1.0"

// versionsDir holds the cached VERSION answers, under weft's data dir. The
// leading dot keeps it apart from the per-network directories: a CNI
// network name cannot start with one.
const versionsDir = ".plugin-versions"

// pluginVersions is a delegate binary's VERSION answer, cached per path,
// size and modification time: an upgraded plugin is asked again.
type pluginVersions struct {
	Path      string   `json:"path"`
	ModTime   int64    `json:"modTime"` // nanoseconds since the epoch
	Size      int64    `json:"size"`
	Supported []string `json:"supportedVersions"`
}

// delegateVersions returns the spec versions the delegate typ found on
// CNI_PATH supports. The answer is cached in dataDir so that a runtime
// calling STATUS every few seconds does not exec the delegate twice each
// time; a cache that cannot be written only costs that second exec.
func (c *call) delegateVersions(ctx context.Context, typ string) ([]string, error) {
	path, err := invoke.FindInPath(typ, filepath.SplitList(os.Getenv("CNI_PATH")))
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("delegate %s: %w", typ, err)
	}
	sum := sha256.Sum256([]byte(path))
	cacheFile := filepath.Join(c.conf.DataDir, versionsDir, hex.EncodeToString(sum[:8])+".json")
	want := pluginVersions{Path: path, ModTime: fi.ModTime().UnixNano(), Size: fi.Size()}
	if b, err := os.ReadFile(cacheFile); err == nil {
		var got pluginVersions
		if json.Unmarshal(b, &got) == nil && got.Path == want.Path && got.ModTime == want.ModTime &&
			got.Size == want.Size && len(got.Supported) > 0 {
			return got.Supported, nil
		}
	}
	info, err := invoke.GetVersionInfo(ctx, path, nil)
	if err != nil {
		return nil, fmt.Errorf("delegate %s VERSION: %w", path, err)
	}
	want.Supported = info.SupportedVersions()
	if err := writeVersionCache(cacheFile, want); err != nil {
		c.log.Printf("cache %s's spec versions: %v", path, err)
	}
	return want.Supported, nil
}

func writeVersionCache(path string, v pluginVersions) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create cache dir: %w", err)
	}
	// Temporary file and rename: concurrent plugin runs may write the
	// same entry, and a reader must never see half of one.
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("create cache file: %w", err)
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write cache file %s: %w", path, werr)
	}
	return nil
}

// negotiate returns the spec version to speak with a delegate supporting
// supported when the runtime speaks want: want itself if the delegate
// knows it, else the newest version the delegate knows below it. A
// runtime's 1.1.0 config then reaches bridge v1.1.1 as 1.0.0 (ADD, DEL and
// CHECK are the same there), and weft converts the result back.
func negotiate(want string, supported []string) (string, error) {
	if slices.Contains(supported, want) {
		return want, nil
	}
	best := ""
	for _, v := range supported {
		below, err := cniversion.GreaterThan(want, v)
		if err != nil || !below {
			continue
		}
		if best == "" {
			best = v
		} else if newer, err := cniversion.GreaterThan(v, best); err == nil && newer {
			best = v
		}
	}
	if best == "" {
		return "", fmt.Errorf("supports none of the spec versions up to %s (only %v)", want, supported)
	}
	return best, nil
}

// supportsStatus says whether a delegate supporting supported knows
// STATUS and GC.
func supportsStatus(supported []string) bool {
	for _, v := range supported {
		if ok, err := cniversion.GreaterThanOrEqualTo(v, statusVersion); err == nil && ok {
			return true
		}
	}
	return false
}

// forDelegate returns conf in the spec version the delegate typ speaks,
// with prevResult converted to it, and the versions the delegate supports.
func (c *call) forDelegate(ctx context.Context, typ string, conf []byte) ([]byte, []string, error) {
	supported, err := c.delegateVersions(ctx, typ)
	if err != nil {
		return nil, nil, err
	}
	v, err := negotiate(c.conf.CNIVersion, supported)
	if err != nil {
		return nil, supported, types.NewError(types.ErrIncompatibleCNIVersion,
			fmt.Sprintf("delegate %s %v: install newer CNI reference plugins", typ, err), "")
	}
	kvs := []keyValue{{"cniVersion", jsonString(v)}}
	if v != c.conf.CNIVersion && len(c.conf.PrevResult) > 0 {
		res, err := cniversion.NewResult(c.conf.CNIVersion, c.conf.PrevResult)
		if err != nil {
			return nil, supported, fmt.Errorf("decode prevResult: %w", err)
		}
		if res, err = res.GetAsVersion(v); err != nil {
			return nil, supported, fmt.Errorf("convert prevResult to %s for delegate %s: %w", v, typ, err)
		}
		b, err := json.Marshal(res)
		if err != nil {
			return nil, supported, fmt.Errorf("encode prevResult: %w", err)
		}
		kvs = append(kvs, keyValue{"prevResult", b})
	}
	out, err := setKeys(conf, kvs)
	if err != nil {
		return nil, supported, fmt.Errorf("delegate config: %w", err)
	}
	return out, supported, nil
}
