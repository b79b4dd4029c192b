// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package cluster

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"time"
)

// PauseImage is the reference of the locally built sandbox image every
// containerd of the CRI tier pins. The domain has a dot, so containerd
// does not prefix it with docker.io.
const PauseImage = "weft.local/pause:1"

// writePauseImage packs the static binary pauseBin as a one-layer image in
// docker-archive format (what `ctr images import` reads) at out. The image
// config names os and architecture: containerd filters out an image
// without them as not matching the platform.
func writePauseImage(pauseBin, out string) error {
	bin, err := os.ReadFile(pauseBin)
	if err != nil {
		return fmt.Errorf("pause image: %w", err)
	}
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	if err := lw.WriteHeader(&tar.Header{
		Name: "pause", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0),
	}); err != nil {
		return fmt.Errorf("pause image layer: %w", err)
	}
	if _, err := lw.Write(bin); err != nil {
		return fmt.Errorf("pause image layer: %w", err)
	}
	if err := lw.Close(); err != nil {
		return fmt.Errorf("pause image layer: %w", err)
	}
	diffID := sha256.Sum256(layer.Bytes())
	config, err := json.Marshal(imageConfig{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Config:       imageRunConfig{Entrypoint: []string{"/pause"}},
		RootFS:       imageRootFS{Type: "layers", DiffIDs: []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	})
	if err != nil {
		return fmt.Errorf("pause image config: %w", err)
	}
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	manifest, err := json.Marshal([]archiveManifest{{
		Config: configName, RepoTags: []string{PauseImage}, Layers: []string{"layer/layer.tar"},
	}})
	if err != nil {
		return fmt.Errorf("pause image manifest: %w", err)
	}
	var archive bytes.Buffer
	aw := tar.NewWriter(&archive)
	for _, f := range []struct {
		name string
		data []byte
	}{{configName, config}, {"layer/layer.tar", layer.Bytes()}, {"manifest.json", manifest}} {
		hdr := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if err := aw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("pause image archive: %w", err)
		}
		if _, err := aw.Write(f.data); err != nil {
			return fmt.Errorf("pause image archive: %w", err)
		}
	}
	if err := aw.Close(); err != nil {
		return fmt.Errorf("pause image archive: %w", err)
	}
	if err := os.WriteFile(out, archive.Bytes(), 0o644); err != nil {
		return fmt.Errorf("pause image: %w", err)
	}
	return nil
}

// imageConfig is the part of an OCI/docker image config containerd needs.
type imageConfig struct {
	Architecture string         `json:"architecture"`
	OS           string         `json:"os"`
	Config       imageRunConfig `json:"config"`
	RootFS       imageRootFS    `json:"rootfs"`
}

type imageRunConfig struct {
	Entrypoint []string `json:"Entrypoint"`
}

type imageRootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

// archiveManifest is one entry of a docker-archive's manifest.json.
type archiveManifest struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}
