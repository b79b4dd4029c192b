// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Lease is one node's claim on a subnet, stored at <prefix>/subnets/<key>.
// The zero value is not a lease. A Lease is a value: copy it freely.
type Lease struct {
	Subnet     netip.Prefix // IPv4 subnet, Masked; zero in an IPv6-only lease
	IPv6Subnet netip.Prefix // IPv6 subnet in dual stack and IPv6-only, else zero
	Attrs      LeaseAttrs
	// LeaseID is the etcd lease the key is bound to; 0 means the key has no
	// etcd lease: an operator's reservation, permanent.
	LeaseID int64
	// Expiration is when the etcd lease runs out if not kept alive; zero for
	// reservations and when unknown (weftd does not look TTLs up per lease).
	Expiration time.Time
	// ModRevision is the etcd revision of the key's last change, used for
	// compare-and-swap updates.
	ModRevision int64
	// CreateRevision is the etcd revision that created the key: of two keys
	// claiming one subnet, the older wins (see Admit). 0 when unknown.
	CreateRevision int64
}

// Reserved reports whether the lease is a reservation (a key with no etcd lease).
func (l Lease) Reserved() bool { return l.LeaseID == 0 }

// Primary is the subnet that identifies the lease in Registry.GetLease:
// the IPv4 subnet, or the IPv6 subnet of an IPv6-only lease.
func (l Lease) Primary() netip.Prefix {
	if l.Subnet.IsValid() {
		return l.Subnet
	}
	return l.IPv6Subnet
}

// Key returns the key suffix under <prefix>/subnets/.
func (l Lease) Key() string { return SubnetKey(l.Subnet, l.IPv6Subnet) }

// String identifies the lease in logs and errors.
func (l Lease) String() string { return l.Key() }

// LeaseAttrs is the JSON value of a lease key, exactly flannel's:
// {"PublicIP":"198.18.0.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{...}}.
//
// An IPv6-only lease has PublicIP 0.0.0.0, as flanneld writes it: that is
// "no IPv4 address", and NodeIP is then the PublicIPv6.
type LeaseAttrs struct {
	PublicIP      netip.Addr
	PublicIPv6    netip.Addr // zero encodes as null
	BackendType   string
	BackendData   json.RawMessage // nil until the node wrote it (e.g. a fresh reservation)
	BackendV6Data json.RawMessage
}

// NodeIP is the address that identifies the node a lease belongs to (a
// node finds its own lease or reservation by it): PublicIP, or PublicIPv6
// when PublicIP is absent or flannel's IPv6-only placeholder 0.0.0.0.
func (a LeaseAttrs) NodeIP() netip.Addr {
	if a.PublicIP.IsValid() && !a.PublicIP.IsUnspecified() {
		return a.PublicIP
	}
	return a.PublicIPv6
}

type leaseAttrsJSON struct {
	PublicIP      string
	PublicIPv6    *string
	BackendType   string          `json:",omitempty"`
	BackendData   json.RawMessage `json:",omitempty"`
	BackendV6Data json.RawMessage `json:",omitempty"`
}

// MarshalJSON writes flannel's lease value format.
func (a LeaseAttrs) MarshalJSON() ([]byte, error) {
	j := leaseAttrsJSON{
		PublicIP: addrString(a.PublicIP), BackendType: a.BackendType,
		BackendData: nullToNil(a.BackendData), BackendV6Data: nullToNil(a.BackendV6Data),
	}
	if a.PublicIPv6.IsValid() {
		s := a.PublicIPv6.String()
		j.PublicIPv6 = &s
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads flannel's lease value format; errors name the field.
func (a *LeaseAttrs) UnmarshalJSON(b []byte) error {
	var j leaseAttrsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("lease value is not valid JSON: %w", describeJSONError(err))
	}
	var out LeaseAttrs
	if j.PublicIP != "" {
		ip, err := netip.ParseAddr(j.PublicIP)
		if err != nil || !ip.Is4() {
			return fmt.Errorf("PublicIP %q: not an IPv4 address", j.PublicIP)
		}
		out.PublicIP = ip
	}
	if j.PublicIPv6 != nil && *j.PublicIPv6 != "" {
		ip, err := netip.ParseAddr(*j.PublicIPv6)
		if err != nil || !ip.Is6() || ip.Is4In6() {
			return fmt.Errorf("PublicIPv6 %q: not an IPv6 address", *j.PublicIPv6)
		}
		out.PublicIPv6 = ip
	}
	out.BackendType = j.BackendType
	out.BackendData = nullToNil(j.BackendData)
	out.BackendV6Data = nullToNil(j.BackendV6Data)
	*a = out
	return nil
}

func nullToNil(m json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(m)) == 0 || bytes.Equal(bytes.TrimSpace(m), []byte("null")) {
		return nil
	}
	return m
}

// VXLANData is the vxlan backend's BackendData (and BackendV6Data):
// {"VNI":1,"VtepMAC":"2e:4f:..."}.
type VXLANData struct {
	VNI     uint32
	VtepMAC MAC
}

// DecodeVXLANData decodes BackendData; an empty message is an error naming
// it. flannel and weft write {"VNI":<n>,"VtepMAC":"xx:xx:xx:xx:xx:xx"}; that
// exact form is read without encoding/json, which admitting and planning
// 5,000 peers would otherwise spend most of their time in. Anything else
// goes through encoding/json, with the same result.
func DecodeVXLANData(m json.RawMessage) (VXLANData, error) {
	var d VXLANData
	if len(m) == 0 {
		return d, fmt.Errorf("BackendData missing")
	}
	if d, ok := fastVXLANData(m); ok {
		return d, nil
	}
	return decodeVXLANJSON(m)
}

func decodeVXLANJSON(m json.RawMessage) (VXLANData, error) {
	var d VXLANData
	if err := json.Unmarshal(m, &d); err != nil {
		return d, fmt.Errorf("BackendData %s: %w", m, describeJSONError(err))
	}
	return d, nil
}

func fastVXLANData(s []byte) (d VXLANData, ok bool) {
	const head, mid, tail = `{"VNI":`, `,"VtepMAC":"`, `"}`
	if !bytes.HasPrefix(s, []byte(head)) {
		return d, false
	}
	s = s[len(head):]
	digits := 0
	var vni uint64
	for digits < len(s) && digits < 10 && s[digits] >= '0' && s[digits] <= '9' {
		vni = vni*10 + uint64(s[digits]-'0')
		digits++
	}
	// JSON numbers have no leading zeros; VNI is a uint32.
	if digits == 0 || (digits > 1 && s[0] == '0') || vni > 1<<32-1 {
		return d, false
	}
	s = s[digits:]
	if len(s) != len(mid)+17+len(tail) || !bytes.HasPrefix(s, []byte(mid)) || !bytes.HasSuffix(s, []byte(tail)) {
		return d, false
	}
	s = s[len(mid) : len(mid)+17]
	for i := range d.VtepMAC {
		if i > 0 && s[3*i-1] != ':' {
			return d, false
		}
		hi, ok1 := unhex(s[3*i])
		lo, ok2 := unhex(s[3*i+1])
		if !ok1 || !ok2 {
			return d, false
		}
		d.VtepMAC[i] = hi<<4 | lo
	}
	d.VNI = uint32(vni)
	return d, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// MAC is a hardware address that encodes as "aa:bb:cc:dd:ee:ff" in JSON
// (net.HardwareAddr would encode as base64). The zero value is "no MAC".
type MAC [6]byte

// ParseMAC parses a colon-separated 48-bit MAC address.
func ParseMAC(s string) (MAC, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return MAC{}, fmt.Errorf("MAC %q: not a 48-bit address such as 2e:4f:00:00:00:01", s)
	}
	return MAC(hw), nil
}

// IsZero reports whether m is unset.
func (m MAC) IsZero() bool { return m == MAC{} }

// HardwareAddr converts to the net type at the kernel boundary.
func (m MAC) HardwareAddr() net.HardwareAddr { return net.HardwareAddr(m[:]) }

func (m MAC) String() string { return net.HardwareAddr(m[:]).String() }

// MarshalText implements encoding.TextMarshaler.
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *MAC) UnmarshalText(b []byte) error {
	v, err := ParseMAC(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// noIPv4 is flannel's IPv4 part of an IPv6-only key: "no IPv4", never the
// subnet 0.0.0.0/0.
const noIPv4 = "0.0.0.0-0"

// SubnetKey builds the key suffix of a lease: "10.244.3.0-24", in dual
// stack "10.244.3.0-24&fd00:10:244:3::-64", and with no IPv4 subnet
// (IPv6-only) "0.0.0.0-0&fd00:10:244:3::-64".
func SubnetKey(sn, sn6 netip.Prefix) string {
	k := noIPv4
	if sn.IsValid() {
		k = sn.Addr().String() + "-" + strconv.Itoa(sn.Bits())
	}
	if sn6.IsValid() {
		k += "&" + sn6.Addr().String() + "-" + strconv.Itoa(sn6.Bits())
	}
	return k
}

// ParseSubnetKey is the inverse of SubnetKey. It accepts only masked
// prefixes, so that one subnet has exactly one key.
func ParseSubnetKey(key string) (sn, sn6 netip.Prefix, err error) {
	v4, v6, dual := strings.Cut(key, "&")
	if dual && v4 == noIPv4 {
		// IPv6-only: sn stays invalid.
	} else if sn, err = parseKeyPrefix(v4, true); err != nil {
		return netip.Prefix{}, netip.Prefix{}, fmt.Errorf("subnet key %q: %w", key, err)
	}
	if dual {
		if sn6, err = parseKeyPrefix(v6, false); err != nil {
			return netip.Prefix{}, netip.Prefix{}, fmt.Errorf("subnet key %q: %w", key, err)
		}
	}
	return sn, sn6, nil
}

func parseKeyPrefix(s string, is4 bool) (netip.Prefix, error) {
	i := strings.LastIndexByte(s, '-')
	if i < 0 {
		return netip.Prefix{}, fmt.Errorf("%q has no -<length>", s)
	}
	a, err := netip.ParseAddr(s[:i])
	if err != nil || a.Is4() != is4 || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q: not an %s address", s[:i], ipName(is4))
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil || n < 0 || n > a.BitLen() {
		return netip.Prefix{}, fmt.Errorf("%q: bad prefix length", s[i+1:])
	}
	p := netip.PrefixFrom(a, n)
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%s has host bits set", p)
	}
	return p, nil
}
