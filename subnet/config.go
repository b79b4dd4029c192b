// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// BackendVXLAN is the only backend type weft speaks today.
const BackendVXLAN = "vxlan"

// DefaultVXLANPort is the UDP port the Linux kernel (and flannel) use when
// the config leaves Port at 0.
const DefaultVXLANPort = 8472

// Checksum offload modes for BackendConfig.TxChecksumOffload.
const (
	OffloadAuto = "auto"
	OffloadOn   = "on"
	OffloadOff  = "off"
)

// Config is the network config stored at <prefix>/config, flannel's
// net-conf.json. The zero value is not valid; build one with ParseConfig,
// which applies flannel's defaults and bounds. A Config is immutable after
// parsing and safe to share.
type Config struct {
	EnableIPv4 bool
	EnableIPv6 bool

	Network   netip.Prefix
	SubnetLen int
	SubnetMin netip.Addr
	SubnetMax netip.Addr

	IPv6Network   netip.Prefix
	IPv6SubnetLen int
	IPv6SubnetMin netip.Addr
	IPv6SubnetMax netip.Addr

	EnableNFTables bool
	Backend        BackendConfig
}

// BackendConfig is the "Backend" object of the network config. Only the
// vxlan keys are known; TxChecksumOffload is a weft extension that flanneld
// ignores.
type BackendConfig struct {
	Type          string
	VNI           uint32
	Port          uint16 // never 0 after parsing: 0 in JSON means DefaultVXLANPort
	MTU           int    // underlay MTU; 0 means the underlay interface's MTU
	GBP           bool
	Learning      bool
	DirectRouting bool
	// TxChecksumOffload is auto (off on kernels with the VXLAN checksum bug), on or off.
	TxChecksumOffload string
}

// rawConfig mirrors the JSON with pointers and strings, so that defaults can
// tell "absent" from "zero" and errors can quote the value as written.
type rawConfig struct {
	EnableIPv4     *bool
	EnableIPv6     *bool
	Network        *string
	SubnetLen      *int
	SubnetMin      *string
	SubnetMax      *string
	IPv6Network    *string
	IPv6SubnetLen  *int
	IPv6SubnetMin  *string
	IPv6SubnetMax  *string
	EnableNFTables bool
	Backend        *rawBackend
}

type rawBackend struct {
	Type              *string
	VNI               *int64
	Port              *int64
	MTU               *int64
	GBP               bool
	Learning          bool
	DirectRouting     bool
	TxChecksumOffload *string
}

// ErrInvalidConfig is matched (errors.Is) by every error ParseConfig
// returns, so callers can tell a bad config from an unreachable etcd.
var ErrInvalidConfig = errors.New("invalid network config")

// configError keeps ParseConfig's message as written while matching
// ErrInvalidConfig.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }

func (e configError) Unwrap() []error { return []error{e.err, ErrInvalidConfig} }

// ParseConfig decodes, defaults and validates a network config. Its errors
// name the JSON key, quote the value and say what is wrong; every problem
// found is reported (joined), not just the first. They match ErrInvalidConfig.
func ParseConfig(data []byte) (*Config, error) {
	var raw rawConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, configError{fmt.Errorf("network config is not valid JSON: %w", describeJSONError(err))}
	}
	var p configParser
	c := p.parse(&raw)
	if len(p.errs) > 0 {
		return nil, configError{errors.Join(p.errs...)}
	}
	return c, nil
}

// UnknownKeys lists the top-level and Backend keys of a config that weft does
// not know (compared case-insensitively, as encoding/json does), so callers
// can warn about typos without rejecting configs written for newer versions.
func UnknownKeys(data []byte) []string {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return nil
	}
	known := fieldSet(rawConfig{})
	knownBackend := fieldSet(rawBackend{})
	var out []string
	for k, v := range top {
		if !known[strings.ToLower(k)] {
			out = append(out, k)
			continue
		}
		if strings.EqualFold(k, "Backend") {
			var b map[string]json.RawMessage
			if json.Unmarshal(v, &b) == nil {
				for bk := range b {
					if !knownBackend[strings.ToLower(bk)] {
						out = append(out, "Backend."+bk)
					}
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func fieldSet(v any) map[string]bool {
	b, _ := json.Marshal(v)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	out := make(map[string]bool, len(m))
	for k := range m {
		out[strings.ToLower(k)] = true
	}
	return out
}

func describeJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("key %s: got a JSON %s, want %s", te.Field, te.Value, te.Type)
	}
	return err
}

type configParser struct{ errs []error }

func (p *configParser) errorf(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

func (p *configParser) parse(raw *rawConfig) *Config {
	c := &Config{EnableIPv4: true, EnableNFTables: raw.EnableNFTables}
	if raw.EnableIPv4 != nil {
		c.EnableIPv4 = *raw.EnableIPv4
	}
	if raw.EnableIPv6 != nil {
		c.EnableIPv6 = *raw.EnableIPv6
	}
	// IPv6-only ("EnableIPv4": false) is flannel's too: its leases carry the
	// key placeholder 0.0.0.0-0 and PublicIP 0.0.0.0 (see SubnetKey).
	if !c.EnableIPv4 && !c.EnableIPv6 {
		p.errorf("EnableIPv4 and EnableIPv6 both false: no address family to lease subnets from; " +
			"enable at least one (IPv6-only: \"EnableIPv4\": false, \"EnableIPv6\": true)")
	}
	if c.EnableIPv4 {
		f := family{name: "", is4: true, defaultLen: 24, smallLen: 22, maxLen: 30}
		c.Network, c.SubnetLen, c.SubnetMin, c.SubnetMax = p.family(f,
			raw.Network, raw.SubnetLen, raw.SubnetMin, raw.SubnetMax)
	}
	if c.EnableIPv6 {
		f := family{name: "IPv6", is4: false, defaultLen: 64, smallLen: 62, maxLen: 126}
		c.IPv6Network, c.IPv6SubnetLen, c.IPv6SubnetMin, c.IPv6SubnetMax = p.family(f,
			raw.IPv6Network, raw.IPv6SubnetLen, raw.IPv6SubnetMin, raw.IPv6SubnetMax)
	}
	c.Backend = p.backend(raw.Backend)
	return c
}

// family holds flannel's per-family rules: the default subnet length, the
// network length up to which that default applies (beyond it flannel uses
// network length + 2), and the longest subnet length allowed.
type family struct {
	name       string // key prefix: "" or "IPv6"
	is4        bool
	defaultLen int
	smallLen   int
	maxLen     int
}

func (f family) key(k string) string { return f.name + k }

func (p *configParser) family(f family, network *string, subnetLen *int, minS, maxS *string,
) (netip.Prefix, int, netip.Addr, netip.Addr) {
	if network == nil || *network == "" {
		p.errorf("%s missing: required when %s is enabled", f.key("Network"), ipName(f.is4))
		return netip.Prefix{}, 0, netip.Addr{}, netip.Addr{}
	}
	n, err := netip.ParsePrefix(*network)
	if err != nil || n.Addr().Is4() != f.is4 || n.Addr().Zone() != "" {
		p.errorf("%s %q: not an %s CIDR such as %s", f.key("Network"), *network, ipName(f.is4), exampleCIDR(f.is4))
		return netip.Prefix{}, 0, netip.Addr{}, netip.Addr{}
	}
	n = n.Masked()
	sl := 0
	if subnetLen == nil || *subnetLen == 0 {
		switch {
		case n.Bits() <= f.smallLen:
			sl = f.defaultLen
		case n.Bits()+2 <= f.maxLen:
			sl = n.Bits() + 2
		default:
			p.errorf("%s %s: too small, the smallest usable network is /%d", f.key("Network"), n, f.maxLen-2)
			return n, 0, netip.Addr{}, netip.Addr{}
		}
	} else {
		sl = *subnetLen
		if sl > f.maxLen || sl < n.Bits()+2 {
			lo := n.Bits() + 2
			if lo > f.maxLen {
				p.errorf("%s %d: %s %s is too small to hold four subnets", f.key("SubnetLen"), sl, f.key("Network"), n)
			} else {
				p.errorf("%s %d: must be between %d and %d for %s %s", f.key("SubnetLen"), sl, lo, f.maxLen, f.key("Network"), n)
			}
			return n, sl, netip.Addr{}, netip.Addr{}
		}
	}
	minA := nextSubnet(n.Addr(), sl)
	maxA := lastSubnet(n, sl)
	if a, ok := p.boundary(f, "SubnetMin", minS, n, sl); ok {
		minA = a
	}
	if a, ok := p.boundary(f, "SubnetMax", maxS, n, sl); ok {
		maxA = a
	}
	if minA.IsValid() && maxA.IsValid() && addrLess(maxA, minA) {
		p.errorf("%s %s is below %s %s: no subnet to lease", f.key("SubnetMax"), maxA, f.key("SubnetMin"), minA)
	}
	return n, sl, minA, maxA
}

// boundary parses SubnetMin or SubnetMax; ok is false when absent or invalid.
func (p *configParser) boundary(f family, k string, s *string, n netip.Prefix, sl int) (netip.Addr, bool) {
	if s == nil || *s == "" {
		return netip.Addr{}, false
	}
	key := f.key(k)
	a, err := netip.ParseAddr(*s)
	if err != nil || a.Is4() != f.is4 || a.Zone() != "" {
		p.errorf("%s %q: not an %s address", key, *s, ipName(f.is4))
		return netip.Addr{}, false
	}
	if !n.Contains(a) {
		p.errorf("%s %s is outside %s %s", key, a, f.key("Network"), n)
		return netip.Addr{}, false
	}
	if netip.PrefixFrom(a, sl).Masked().Addr() != a {
		p.errorf("%s %s is not on a /%d boundary (%s %d)", key, a, sl, f.key("SubnetLen"), sl)
		return netip.Addr{}, false
	}
	return a, true
}

func (p *configParser) backend(raw *rawBackend) BackendConfig {
	b := BackendConfig{VNI: 1, Port: DefaultVXLANPort, TxChecksumOffload: OffloadAuto}
	if raw == nil || raw.Type == nil || *raw.Type == "" {
		p.errorf(`Backend.Type missing: flanneld would use udp; set "Type":"vxlan"`)
		return b
	}
	b.Type = strings.ToLower(*raw.Type)
	if b.Type != BackendVXLAN {
		p.errorf("Backend.Type %q: unknown backend (known: %s)", *raw.Type, BackendVXLAN)
		return b
	}
	b.GBP, b.Learning, b.DirectRouting = raw.GBP, raw.Learning, raw.DirectRouting
	if raw.VNI != nil {
		if *raw.VNI < 0 || *raw.VNI > 1<<24-1 {
			p.errorf("Backend.VNI %d: must be between 0 and 16777215 (24 bits)", *raw.VNI)
		} else {
			b.VNI = uint32(*raw.VNI)
		}
	}
	if raw.Port != nil && *raw.Port != 0 {
		if *raw.Port < 1 || *raw.Port > 65535 {
			p.errorf("Backend.Port %d: must be between 1 and 65535 (0 means %d)", *raw.Port, DefaultVXLANPort)
		} else {
			b.Port = uint16(*raw.Port)
		}
	}
	if raw.MTU != nil && *raw.MTU != 0 {
		if *raw.MTU < 576 || *raw.MTU > 65535 {
			p.errorf("Backend.MTU %d: must be the underlay MTU, between 576 and 65535 (0 means the interface's)", *raw.MTU)
		} else {
			b.MTU = int(*raw.MTU)
		}
	}
	if raw.TxChecksumOffload != nil && *raw.TxChecksumOffload != "" {
		switch v := strings.ToLower(*raw.TxChecksumOffload); v {
		case OffloadAuto, OffloadOn, OffloadOff:
			b.TxChecksumOffload = v
		default:
			p.errorf("Backend.TxChecksumOffload %q: must be auto, on or off", *raw.TxChecksumOffload)
		}
	}
	return b
}

func ipName(is4 bool) string {
	if is4 {
		return "IPv4"
	}
	return "IPv6"
}

func exampleCIDR(is4 bool) string {
	if is4 {
		return "10.244.0.0/16"
	}
	return "fd00:10:244::/48"
}

// SubnetCount returns how many subnets lie between SubnetMin and SubnetMax
// inclusive for IPv4 (the allocation range), saturating at MaxUint64.
func (c *Config) SubnetCount() uint64 {
	if !c.Network.IsValid() {
		return 0
	}
	n, ok := SubnetIndex(c.SubnetMin, c.SubnetMax, c.SubnetLen)
	if !ok || n == ^uint64(0) {
		return ^uint64(0)
	}
	return n + 1
}

// MarshalJSON writes the config in flannel's net-conf.json form, with every
// default made explicit, so what weftctl stores is what weftd will use.
func (c *Config) MarshalJSON() ([]byte, error) {
	type backend struct {
		Type              string
		VNI               uint32
		Port              uint16 `json:",omitempty"`
		MTU               int    `json:",omitempty"`
		GBP               bool   `json:",omitempty"`
		Learning          bool   `json:",omitempty"`
		DirectRouting     bool   `json:",omitempty"`
		TxChecksumOffload string `json:",omitempty"`
	}
	type out struct {
		EnableIPv4     bool
		EnableIPv6     bool   `json:",omitempty"`
		Network        string `json:",omitempty"`
		SubnetLen      int    `json:",omitempty"`
		SubnetMin      string `json:",omitempty"`
		SubnetMax      string `json:",omitempty"`
		IPv6Network    string `json:",omitempty"`
		IPv6SubnetLen  int    `json:",omitempty"`
		IPv6SubnetMin  string `json:",omitempty"`
		IPv6SubnetMax  string `json:",omitempty"`
		EnableNFTables bool   `json:",omitempty"`
		Backend        backend
	}
	o := out{
		EnableIPv4: c.EnableIPv4, EnableIPv6: c.EnableIPv6, EnableNFTables: c.EnableNFTables,
		SubnetLen: c.SubnetLen, IPv6SubnetLen: c.IPv6SubnetLen,
		Backend: backend(c.Backend),
	}
	o.Network, o.SubnetMin, o.SubnetMax = prefixString(c.Network), addrString(c.SubnetMin), addrString(c.SubnetMax)
	o.IPv6Network, o.IPv6SubnetMin, o.IPv6SubnetMax = prefixString(c.IPv6Network), addrString(c.IPv6SubnetMin), addrString(c.IPv6SubnetMax)
	return json.Marshal(o)
}

func prefixString(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
