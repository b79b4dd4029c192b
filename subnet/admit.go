// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Reason says why a lease was not admitted as a peer. The values are the
// label of weft_leases_rejected and appear in logs and weftctl; they are
// stable.
type Reason string

// Rejection reasons, stage 1 (global: every node decides the same from etcd
// alone) then stage 2 (local safety on this node).
const (
	ReasonOutsideNetwork Reason = "outside-network" // subnet not inside Network / IPv6Network
	ReasonSubnetLen      Reason = "subnet-length"   // not exactly SubnetLen / IPv6SubnetLen
	ReasonFamily         Reason = "family"          // lacks a family the config enables (the key 0.0.0.0-0&… has no IPv4), or has IPv4 in an IPv6-only network
	ReasonBackendType    Reason = "backend-type"    // BackendType is not the configured backend
	ReasonBackendData    Reason = "backend-data"    // BackendData missing or unreadable, no VtepMAC, no PublicIP
	ReasonVNI            Reason = "vni"             // VNI differs from the config's
	ReasonDuplicate      Reason = "duplicate"       // an older key holds the same subnet
	ReasonOwnAddress     Reason = "own-address"     // carries this node's PublicIP or VTEP MAC for another subnet
	ReasonNodeAddress    Reason = "covers-node-address"
	ReasonEtcdEndpoint   Reason = "covers-etcd-endpoint"
	ReasonRoute          Reason = "overlaps-route" // overlaps a route weft did not install
)

// Reasons lists every Reason, stage 1 first, for metrics and docs.
var Reasons = []Reason{
	ReasonOutsideNetwork, ReasonSubnetLen, ReasonFamily, ReasonBackendType, ReasonBackendData, ReasonVNI,
	ReasonDuplicate, ReasonOwnAddress, ReasonNodeAddress, ReasonEtcdEndpoint, ReasonRoute,
}

// Rejection is a lease that may not become a peer, with why.
type Rejection struct {
	Lease  Lease
	Reason Reason
	Detail string // names the value at fault, for the log line
}

// Route is a route of the node's main table that weft did not install, as
// admission sees it.
type Route struct {
	Dst netip.Prefix
	Gw  netip.Addr // zero when the route has no gateway
}

// Local is what stage 2 of admission knows about this node. The zero value
// is a node that knows nothing: stage 2 then rejects nothing.
type Local struct {
	// Subnet and IPv6Subnet identify our own lease (its key): it is never a
	// peer, and it never loses a duplicate on this node.
	Subnet, IPv6Subnet netip.Prefix
	// PublicIP, PublicIPv6 and VTEPMACs are ours: another subnet carrying
	// them would be programmed as a peer pointing at this node.
	PublicIP, PublicIPv6 netip.Addr
	VTEPMACs             []MAC
	// Addrs are every address on the node, Endpoints the etcd endpoints'
	// addresses: a peer route covering one would capture our own traffic.
	Addrs, Endpoints []netip.Addr
	// Routes are the main table's routes that weft did not install.
	Routes []Route
}

// LocalOf is the part of Local that our own lease gives: its key, its
// public addresses and the VTEP MACs of its backend data. weftd, weftctl
// doctor and the test fleet's convergence check all identify a node so.
func LocalOf(own Lease) Local {
	l := Local{Subnet: own.Subnet, IPv6Subnet: own.IPv6Subnet, PublicIP: own.Attrs.PublicIP, PublicIPv6: own.Attrs.PublicIPv6}
	for _, data := range [][]byte{own.Attrs.BackendData, own.Attrs.BackendV6Data} {
		if d, err := DecodeVXLANData(data); err == nil {
			l.VTEPMACs = append(l.VTEPMACs, d.VtepMAC)
		}
	}
	return l
}

func (l *Local) ownKey(le *Lease) bool {
	return (l.Subnet.IsValid() || l.IPv6Subnet.IsValid()) && le.Subnet == l.Subnet && le.IPv6Subnet == l.IPv6Subnet
}

// Admission is the result of Admit: the peers to program, sorted by key,
// and the rejected leases, sorted by key. Our own lease is in neither.
type Admission struct {
	Admitted []Lease
	Rejected []Rejection
}

// Admit decides which of leases may become peers of this node under cfg
// (the config weftd runs with): stage 1 keeps a lease only if its subnets
// fit the config exactly and its backend data matches; of keys sharing a
// subnet the oldest (lowest CreateRevision, then key) wins, and our own
// lease always wins on our node; a dual-stack lease losing either half
// loses whole. Stage 2 then drops winners unsafe on this node (see Local)
// without promoting anyone. Pure; O(N log N).
func Admit(cfg *Config, local Local, leases []Lease) Admission {
	a := NewAdmitter(cfg, local)
	a.reset(leases)
	for _, c := range a.byKey {
		if isRejected(c) {
			a.counts[c.v.reason]++
		}
	}
	return a.Result()
}

// checkLease is stage 1 for one lease alone: everything but duplicates.
// pending reports a reservation that carries no backend data yet: it
// claims its subnets but is nothing to program, and stays quiet.
func checkLease(cfg *Config, l *Lease) (r Reason, detail string, pending bool) {
	if r, d := checkFamilies(cfg, l); r != "" {
		return r, d, false
	}
	a := &l.Attrs
	if l.Reserved() && len(a.BackendData) == 0 && len(a.BackendV6Data) == 0 {
		return "", "", true
	}
	want := cmp.Or(cfg.Backend.Type, BackendVXLAN)
	if a.BackendType != want {
		return ReasonBackendType, fmt.Sprintf("BackendType %q, the network runs %q", a.BackendType, want), false
	}
	if cfg.EnableIPv4 {
		if r, d := checkData(cfg, a.BackendData, a.PublicIP, "BackendData", "PublicIP"); r != "" {
			return r, d, false
		}
	}
	if cfg.EnableIPv6 {
		if r, d := checkData(cfg, a.BackendV6Data, a.PublicIPv6, "BackendV6Data", "PublicIPv6"); r != "" {
			return r, d, false
		}
	}
	return "", "", false
}

func checkFamilies(cfg *Config, l *Lease) (Reason, string) {
	if !cfg.EnableIPv4 && l.Subnet.IsValid() {
		return ReasonFamily, fmt.Sprintf("IPv4 subnet %s in an IPv6-only network", l.Subnet)
	}
	if cfg.EnableIPv4 && !l.Subnet.IsValid() && l.IPv6Subnet.IsValid() {
		// flannel's placeholder: "no IPv4", never the route 0.0.0.0/0.
		return ReasonFamily, "no IPv4 subnet: an IPv6-only key (" + noIPv4 + "&…), the network enables IPv4"
	}
	if cfg.EnableIPv4 {
		if r, d := checkSubnet(l.Subnet, cfg.Network, cfg.SubnetLen, "IPv4", "Network", "SubnetLen"); r != "" {
			return r, d
		}
	}
	if cfg.EnableIPv6 {
		if r, d := checkSubnet(l.IPv6Subnet, cfg.IPv6Network, cfg.IPv6SubnetLen, "IPv6", "IPv6Network", "IPv6SubnetLen"); r != "" {
			return r, d
		}
	}
	return "", ""
}

func checkSubnet(sn, network netip.Prefix, bits int, fam, netKey, lenKey string) (Reason, string) {
	switch {
	case !sn.IsValid():
		return ReasonFamily, fmt.Sprintf("no %s subnet, the network enables %s", fam, fam)
	case !network.Contains(sn.Addr()) || sn.Bits() < network.Bits():
		return ReasonOutsideNetwork, fmt.Sprintf("subnet %s outside %s %s", sn, netKey, network)
	case sn.Bits() != bits:
		return ReasonSubnetLen, fmt.Sprintf("subnet %s is a /%d, %s is %d", sn, sn.Bits(), lenKey, bits)
	}
	return "", ""
}

func checkData(cfg *Config, data []byte, public netip.Addr, dataKey, ipKey string) (Reason, string) {
	if !public.IsValid() {
		return ReasonBackendData, ipKey + " missing"
	}
	d, err := DecodeVXLANData(data)
	switch {
	case err != nil:
		return ReasonBackendData, strings.Replace(err.Error(), "BackendData", dataKey, 1)
	case d.VtepMAC.IsZero():
		return ReasonBackendData, dataKey + " has no VtepMAC"
	case d.VNI != cfg.Backend.VNI:
		return ReasonVNI, fmt.Sprintf("%s VNI %d, the network uses %d", dataKey, d.VNI, cfg.Backend.VNI)
	}
	return "", ""
}

// checkLocal is stage 2 for one stage-1 winner.
func checkLocal(local *Local, l *Lease) (Reason, string) {
	a := &l.Attrs
	switch {
	// 0.0.0.0 is every IPv6-only lease's PublicIP (flannel's "no IPv4"):
	// it names no node, least of all this one.
	case local.PublicIP.IsValid() && !local.PublicIP.IsUnspecified() && a.PublicIP == local.PublicIP:
		return ReasonOwnAddress, "PublicIP " + a.PublicIP.String() + " is this node's"
	case local.PublicIPv6.IsValid() && a.PublicIPv6 == local.PublicIPv6:
		return ReasonOwnAddress, "PublicIPv6 " + a.PublicIPv6.String() + " is this node's"
	}
	for _, data := range [][]byte{a.BackendData, a.BackendV6Data} {
		if d, err := DecodeVXLANData(data); err == nil && slices.Contains(local.VTEPMACs, d.VtepMAC) {
			return ReasonOwnAddress, "VtepMAC " + d.VtepMAC.String() + " is this node's"
		}
	}
	subnets := []netip.Prefix{l.Subnet, l.IPv6Subnet}
	for _, sn := range subnets {
		if !sn.IsValid() {
			continue
		}
		if i := slices.IndexFunc(local.Addrs, sn.Contains); i >= 0 {
			return ReasonNodeAddress, fmt.Sprintf("subnet %s contains node address %s", sn, local.Addrs[i])
		}
		if i := slices.IndexFunc(local.Endpoints, sn.Contains); i >= 0 {
			return ReasonEtcdEndpoint, fmt.Sprintf("subnet %s contains etcd endpoint %s", sn, local.Endpoints[i])
		}
	}
	for _, sn := range subnets {
		if !sn.IsValid() {
			continue
		}
		for _, r := range local.Routes {
			if r.Dst.Bits() == 0 || !r.Dst.Overlaps(sn) || leftover(r, sn, l) {
				continue
			}
			via := ""
			if r.Gw.IsValid() {
				via = " via " + r.Gw.String()
			}
			return ReasonRoute, fmt.Sprintf("subnet %s overlaps route %s%s", sn, r.Dst, via)
		}
	}
	return "", ""
}

// leftover reports a route that is the lease's own direct route left by
// flanneld (DirectRouting: the peer subnet via its PublicIP): it is the
// peer's, not a stranger's.
func leftover(r Route, sn netip.Prefix, l *Lease) bool {
	return r.Dst == sn && r.Gw.IsValid() && (r.Gw == l.Attrs.PublicIP || r.Gw == l.Attrs.PublicIPv6)
}
