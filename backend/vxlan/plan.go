// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"net/netip"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

// RouteProtocol marks the routes weft installs (`ip route … proto 87`). It
// is not among the kernel's RTPROT_* values nor iproute2's rt_protos, so
// weft can tell its routes from everyone else's and only ever deletes
// those (and flanneld's leftovers on its own device, see Documentation/vxlan.md).
const RouteProtocol uint8 = 0x57

// Local is what Plan needs to know about this node.
type Local struct {
	// Own4 and Own6 are our own subnets: never peers.
	Own4, Own6 netip.Prefix
	// Dev4 and Dev6 are the VXLAN devices' indexes (0: no device, the
	// family is not programmed).
	Dev4, Dev6 int
	// Underlay is the underlay link's index; Direct its connected
	// prefixes when DirectRouting is on (nil otherwise).
	Underlay int
	Direct   []netip.Prefix
	// UnderlayAddrs are the node's underlay addresses (interface and
	// public, both families): no peer route may cover one.
	UnderlayAddrs []netip.Addr
}

// PeerEntries are the kernel entries for one peer subnet in one family.
// Direct peers have only Route (via the peer's public IP on the underlay).
type PeerEntries struct {
	Subnet netip.Prefix
	Direct bool
	Neigh  dataplane.Neigh
	FDB    dataplane.FDBEntry
	Route  dataplane.Route
}

// Problem is a lease Plan skipped, with why.
type Problem struct {
	Subnet netip.Prefix
	Err    error
}

// Plan computes the desired entries for the peers among leases, keyed by
// peer subnet (IPv4 and IPv6 subnets are separate keys). Leases without
// backend data (reservations of nodes not up yet) and our own are skipped
// quietly; a malformed lease is skipped and reported, never affecting the
// others. Plan is pure.
func Plan(l Local, leases []subnet.Lease) (map[netip.Prefix]PeerEntries, []Problem) {
	out := make(map[netip.Prefix]PeerEntries, len(leases))
	var problems []Problem
	emit := func(e PeerEntries) { out[e.Subnet] = e }
	for i := range leases {
		s := specOf(&leases[i])
		if err := planSpec(l, peerKey(&leases[i]), &s, emit); err != nil {
			problems = append(problems, Problem{Subnet: peerKey(&leases[i]), Err: err})
		}
	}
	return out, problems
}

// onLink reports whether a lies in one of the connected prefixes.
func onLink(prefixes []netip.Prefix, a netip.Addr) bool {
	for _, p := range prefixes {
		if p.Bits() < p.Addr().BitLen() && p.Masked().Contains(a) {
			return true
		}
	}
	return false
}
