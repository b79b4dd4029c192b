// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/weft-net/weft/subnet/subnetenv"
)

// Defaults for the keys of weft's own network config.
const (
	defaultDataDir = "/var/lib/cni/weft"
	pluginType     = "weft"
)

// NetConf is weft's network configuration, as the runtime passes it on
// stdin. Delegate and IPAM are the user's overrides, kept as raw JSON
// objects: they are merged over the typed defaults (see delegate.go), and
// keys weft does not know must reach the delegate untouched.
type NetConf struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	// SubnetFile is the subnet.env weftd (or flanneld) writes.
	SubnetFile string `json:"subnetFile"`
	// DataDir holds one stored delegate config per attachment.
	DataDir string `json:"dataDir"`
	// LogFile, when set, receives the plugin's log instead of stderr.
	LogFile  string          `json:"logFile"`
	Delegate json.RawMessage `json:"delegate"`
	IPAM     json.RawMessage `json:"ipam"`

	// Set by the runtime; passed through to the delegate.
	RuntimeConfig json.RawMessage `json:"runtimeConfig"`
	PrevResult    json.RawMessage `json:"prevResult"`
	Args          json.RawMessage `json:"args"`

	// GC only. libcni sends the list under both keys (the spec first
	// named it cni.dev/attachments). Kept raw so that an absent list (no
	// sweep) differs from an empty one (everything is stale).
	ValidAttachments  json.RawMessage `json:"cni.dev/valid-attachments"`
	LegacyAttachments json.RawMessage `json:"cni.dev/attachments"`
}

// attachment names one interface of one container, the unit of CNI state.
type attachment struct {
	ContainerID string
	IfName      string
}

// parseNetConf decodes and validates stdin and fills in defaults.
func parseNetConf(stdin []byte) (*NetConf, error) {
	var c NetConf
	if err := json.Unmarshal(stdin, &c); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, fmt.Sprintf("decode weft network config: %v", err), "")
	}
	if c.SubnetFile == "" {
		c.SubnetFile = subnetenv.DefaultPath
	}
	if c.DataDir == "" {
		c.DataDir = defaultDataDir
	}
	c.Delegate = nullToEmpty(c.Delegate)
	c.IPAM = nullToEmpty(c.IPAM)
	if err := c.validate(); err != nil {
		return nil, types.NewError(types.ErrInvalidNetworkConfig, err.Error(), "")
	}
	return &c, nil
}

func (c *NetConf) validate() error {
	if c.Name == "" {
		return fmt.Errorf("weft network config: \"name\" missing")
	}
	for key, p := range map[string]string{"subnetFile": c.SubnetFile, "dataDir": c.DataDir, "logFile": c.LogFile} {
		if p != "" && !filepath.IsAbs(p) {
			return fmt.Errorf("weft network config %q: %q %s is not an absolute path", c.Name, key, p)
		}
	}
	for key, raw := range map[string]json.RawMessage{"delegate": c.Delegate, "ipam": c.IPAM} {
		if len(raw) > 0 && !isObject(raw) {
			return fmt.Errorf("weft network config %q: %q must be a JSON object, got %s", c.Name, key, raw)
		}
	}
	return nil
}

// validAttachments returns the attachments the runtime still holds, and
// whether it sent a list at all.
func (c *NetConf) validAttachments() (map[attachment]bool, bool, error) {
	raw := c.ValidAttachments
	if len(raw) == 0 {
		raw = c.LegacyAttachments
	}
	if len(raw) == 0 {
		return nil, false, nil
	}
	var list []types.GCAttachment
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, false, types.NewError(types.ErrDecodingFailure,
			fmt.Sprintf("decode cni.dev/valid-attachments: %v", err), "")
	}
	valid := make(map[attachment]bool, len(list))
	for _, a := range list {
		valid[attachment{a.ContainerID, a.IfName}] = true
	}
	return valid, true, nil
}

func nullToEmpty(raw json.RawMessage) json.RawMessage {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil
	}
	return raw
}

func isObject(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}
