// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/weft-net/weft/subnet/subnetenv"
)

const (
	defaultDelegateType = "bridge"
	defaultBridgeName   = "cni0"
	defaultIPAMType     = "host-local"
	// hostLocalDefaultDataDir is where host-local keeps its address files
	// when the ipam config names no dataDir.
	hostLocalDefaultDataDir = "/var/lib/cni/networks"
)

// releaseOnlyRange stands in for the node subnet when DEL has neither a
// stored config nor subnet.env. host-local DEL needs one valid range to
// load its config, but releases by container ID and interface across its
// whole store, so the range itself is never used. TEST-NET-1 can never be
// a real pod subnet.
var releaseOnlyRange = netip.MustParsePrefix("192.0.2.0/24")

// delegateConf is the config weft builds for the delegate plugin, by
// default bridge. Bridge-only keys are left out for another type.
type delegateConf struct {
	CNIVersion  string   `json:"cniVersion"`
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Bridge      string   `json:"bridge,omitempty"`
	IsGateway   bool     `json:"isGateway,omitempty"`
	IPMasq      bool     `json:"ipMasq"`
	MTU         int      `json:"mtu,omitempty"`
	HairpinMode bool     `json:"hairpinMode,omitempty"`
	IPAM        ipamConf `json:"ipam"`
}

// ipamConf is host-local's config: one range set per address family.
type ipamConf struct {
	Type   string        `json:"type"`
	Ranges [][]ipamRange `json:"ranges,omitempty"`
	Routes []ipamRoute   `json:"routes,omitempty"`
}

type ipamRange struct {
	Subnet netip.Prefix `json:"subnet"`
}

type ipamRoute struct {
	Dst netip.Prefix `json:"dst"`
}

// delegateInfo is what weft reads back from a built or stored config.
type delegateInfo struct {
	Type string `json:"type"`
	IPAM struct {
		Type    string `json:"type"`
		DataDir string `json:"dataDir"`
	} `json:"ipam"`
}

// buildDelegate returns the delegate config for c. env is the node's
// subnet.env, or nil when it is gone. release builds a config for DEL (and
// GC) only: masquerade teardown is requested whatever ADD had, since
// removing absent rules is harmless, and without env a stand-in range
// lets host-local release by container ID.
func buildDelegate(c *NetConf, env *subnetenv.Env, release bool) ([]byte, error) {
	var user delegateInfo
	if len(c.Delegate) > 0 {
		if err := json.Unmarshal(c.Delegate, &user); err != nil {
			return nil, configError(c, "delegate", err)
		}
	}
	def := delegateDefaults(c, user.Type, env, release)
	b, err := json.Marshal(def)
	if err != nil {
		return nil, fmt.Errorf("encode delegate config: %w", err)
	}
	if b, err = mergeObjects(b, c.Delegate); err != nil {
		return nil, configError(c, "delegate", err)
	}
	if len(c.IPAM) > 0 {
		wrapped := []byte(`{"ipam":` + string(c.IPAM) + `}`)
		if b, err = mergeObjects(b, wrapped); err != nil {
			return nil, configError(c, "ipam", err)
		}
	}
	if b, err = setKeys(b, c.passThrough()); err != nil {
		return nil, configError(c, "delegate", err)
	}
	if !release {
		b = withRouteGateways(b)
	}
	return b, nil
}

func delegateDefaults(c *NetConf, userType string, env *subnetenv.Env, release bool) delegateConf {
	d := delegateConf{
		CNIVersion: c.CNIVersion,
		Name:       c.Name,
		Type:       defaultDelegateType,
		IPMasq:     release,
		IPAM:       ipamConf{Type: defaultIPAMType},
	}
	if userType == "" || userType == defaultDelegateType {
		d.Bridge, d.IsGateway, d.HairpinMode = defaultBridgeName, true, true
	}
	if env == nil {
		d.IPAM.Ranges = [][]ipamRange{{{Subnet: releaseOnlyRange}}}
		return d
	}
	d.MTU = env.MTU
	d.IPMasq = release || !env.IPMasq
	for _, sn := range []netip.Prefix{env.Subnet, env.IPv6Subnet} {
		if sn.IsValid() {
			d.IPAM.Ranges = append(d.IPAM.Ranges, []ipamRange{{Subnet: sn.Masked()}})
		}
	}
	for _, n := range append(append([]netip.Prefix(nil), env.Networks...), env.IPv6Network) {
		if n.IsValid() {
			d.IPAM.Routes = append(d.IPAM.Routes, ipamRoute{Dst: n.Masked()})
		}
	}
	return d
}

// passThrough lists the keys the delegate gets from weft's own config
// whatever "delegate" says: the network's identity and what the runtime
// set for this call.
func (c *NetConf) passThrough() []keyValue {
	return []keyValue{
		{"cniVersion", jsonString(c.CNIVersion)},
		{"name", jsonString(c.Name)},
		{"runtimeConfig", c.RuntimeConfig},
		{"prevResult", c.PrevResult},
		{"args", c.Args},
		{"cni.dev/valid-attachments", c.ValidAttachments},
		{"cni.dev/attachments", c.LegacyAttachments},
	}
}

func configError(c *NetConf, key string, err error) error {
	return types.NewError(types.ErrInvalidNetworkConfig,
		fmt.Sprintf("weft network config %q: %q: %v", c.Name, key, err), "")
}

// parseDelegate reads type and IPAM settings back from a delegate config.
func parseDelegate(b []byte) (delegateInfo, error) {
	var d delegateInfo
	if err := json.Unmarshal(b, &d); err != nil {
		return d, err
	}
	if d.Type == "" {
		return d, fmt.Errorf("no \"type\"")
	}
	return d, nil
}

type keyValue struct {
	Key   string
	Value json.RawMessage
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

// mergeObjects merges the JSON object over into base: objects merge key by
// key, any other value replaces, and null removes the key (so a user can
// drop a default and get the delegate's own). Keys match case-insensitively,
// as Go plugins decode them: a user's "MTU" replaces the default "mtu"
// instead of both reaching the delegate.
func mergeObjects(base, over []byte) ([]byte, error) {
	if len(over) == 0 {
		return base, nil
	}
	var b, o map[string]json.RawMessage
	if err := json.Unmarshal(base, &b); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(over, &o); err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(o) {
		v := o[k]
		old, oldKey := lookupFold(b, k)
		if oldKey != "" {
			delete(b, oldKey)
		}
		switch {
		case string(v) == "null":
			continue
		case oldKey != "" && isObject(old) && isObject(v):
			merged, err := mergeObjects(old, v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			b[k] = merged
		default:
			b[k] = v
		}
	}
	return json.Marshal(b)
}

// setKeys sets each non-empty value in the JSON object obj, replacing any
// key that matches case-insensitively.
func setKeys(obj []byte, kvs []keyValue) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return nil, err
	}
	for _, kv := range kvs {
		if len(kv.Value) == 0 {
			continue
		}
		if _, k := lookupFold(m, kv.Key); k != "" {
			delete(m, k)
		}
		m[kv.Key] = kv.Value
	}
	return json.Marshal(m)
}

func lookupFold(m map[string]json.RawMessage, key string) (json.RawMessage, string) {
	if v, ok := m[key]; ok {
		return v, key
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, k
		}
	}
	return nil, ""
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
