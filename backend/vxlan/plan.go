// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

// RouteProtocol marks the routes weft installs (`ip route … proto 87`). It
// is not among the kernel's RTPROT_* values nor iproute2's rt_protos, so
// weft can tell its routes from everyone else's and only ever deletes
// those (and flanneld's leftovers on its own device, see Documentation/vxlan.md).
const RouteProtocol uint8 = 0x57

// RouteMetric is the metric of weft's route to a peer subnet, direct or
// through the tunnel. For IPv4 it is the subnet's address as a number
// (10.244.2.0/24 → 0x0af40200 = 183763456): distinct per subnet, stable,
// never 0, computable by anyone from the route's destination alone. The
// kernel hashes an IPv4 route's shared attributes (fib_info) by protocol,
// scope, device and metric but not by gateway, so with one metric for
// all peers every route lands in one hash bucket and each insert walks
// all the others; a metric per subnet keeps programming N peers linear
// (Documentation/benchmarks.md, "Route cost at scale"). IPv6 keeps the
// kernel's default (fib6 shares nothing between routes).
func RouteMetric(dst netip.Prefix) uint32 {
	a := dst.Masked().Addr()
	if !a.Is4() {
		return dataplane.IPv6DefaultMetric
	}
	b := a.As4()
	// 0.0.0.0 is no peer subnet's address; 1 keeps the rule "never 0",
	// which the switch-over from metric-0 routes needs.
	return max(binary.BigEndian.Uint32(b[:]), 1)
}

// Local is what planning needs to know about this node.
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

// peerEntries are the kernel entries for one peer subnet in one family.
// Direct peers have only Route (via the peer's public IP on the underlay).
type peerEntries struct {
	Subnet netip.Prefix
	Direct bool
	Neigh  dataplane.Neigh
	FDB    dataplane.FDBEntry
	Route  dataplane.Route
}

// Problem is a lease planning skipped, with why.
type Problem struct {
	Subnet netip.Prefix
	Err    error
}

// plan is the desired state: the planned peers in compact form, from
// which their entries are derived on demand (want), and the FDB entries
// they share. The differ reads it; the Run loop also keeps in it, per
// entry, whether the kernel holds it (peer.bits, fdbRef.has), so that the
// peer set lives once.
type plan struct {
	local Local
	peers map[netip.Prefix]peer // planned peers by family subnet
	fdb   map[fdbKey]fdbRef     // their FDB entries: peers re-leased with one MAC share one
	v6of  map[netip.Prefix]netip.Prefix
	// lens are the prefix lengths of the planned subnets, so a neighbour
	// entry's IP (a subnet's network address) finds its peer.
	lens     []int
	desired4 int // IPv4 peers planned (IPv6 peers if v6only)
	// v6only: the node has no IPv4 device (an IPv6-only network), so its
	// IPv6 peers are the ones counted.
	v6only bool
}

// peer is one planned peer subnet in one family; with its key and Local it
// determines the peer's entries.
type peer struct {
	public netip.Addr // FDB destination, or the direct route's gateway
	rev    int64      // its lease's ModRevision
	mac    subnet.MAC
	direct bool
	bits   peerBits
}

// peerBits record what the kernel holds of a peer's entries (the Run
// loop's belief; the differ never reads them).
type peerBits uint8

const (
	hasNeigh peerBits = 1 << iota // the kernel holds the planned neighbour entry
	hasRoute                      // and the planned route
	counted                       // counted in loopState.programmed
)

// fdbRef is one planned FDB entry.
type fdbRef struct {
	dst  netip.Addr
	rev  int64 // ModRevision of the lease dst comes from
	refs int32
	has  bool // the kernel holds it (Run loop's belief)
}

func newPlan(l Local) plan { return newPlanFor(l, 0) }

// has reports whether the lease keyed sn (peerKey) has planned entries in
// either family.
func (p *plan) has(sn netip.Prefix) bool {
	if _, ok := p.peers[sn]; ok {
		return true
	}
	_, ok := p.v6of[sn]
	return ok
}

// primaryKeys returns the keys (peerKey) of the planned leases for which
// keep is true: the planned subnets but the IPv6 ones of dual-stack
// leases, and the leases planned in IPv6 only.
func (p *plan) primaryKeys(keep func(netip.Prefix) bool) []netip.Prefix {
	second := make(map[netip.Prefix]bool, len(p.v6of))
	for _, v6 := range p.v6of {
		second[v6] = true
	}
	var out []netip.Prefix
	for sn := range p.peers {
		if !second[sn] && keep(sn) {
			out = append(out, sn)
		}
	}
	for sn := range p.v6of {
		if _, ok := p.peers[sn]; !ok && keep(sn) {
			out = append(out, sn)
		}
	}
	return out
}

// newPlanFor is newPlan for about n peers: maps grown entry by entry end
// up a quarter larger than maps made for their size (at 10,000 peers,
// 0.4 MB more of weftd's peak).
func newPlanFor(l Local, n int) plan {
	return plan{local: l, peers: make(map[netip.Prefix]peer, n), fdb: make(map[fdbKey]fdbRef, n), v6of: map[netip.Prefix]netip.Prefix{},
		v6only: l.Dev4 == 0 && l.Dev6 != 0}
}

// planLeases plans the peers among leases. Leases without backend data
// (reservations of nodes not up yet) and our own are skipped quietly; a
// malformed lease is skipped and reported, never affecting the others.
func planLeases(l Local, leases []subnet.Lease) (*plan, []Problem) {
	p := newPlan(l)
	var problems []Problem
	for i := range leases {
		sn, s := peerKey(&leases[i]), specOf(&leases[i])
		err := planSpec(l, sn, &s, func(e peerEntries) {
			p.removePeer(e.Subnet) // a subnet listed twice: the later lease wins
			p.addPeer(sn, e, s.rev)
		})
		if err != nil {
			problems = append(problems, Problem{Subnet: sn, Err: err})
		}
	}
	return &p, problems
}

func peerOf(e peerEntries) peer {
	if e.Direct {
		return peer{public: e.Route.Gw, direct: true}
	}
	return peer{public: e.FDB.Dst, mac: e.Neigh.MAC}
}

// entries derives a planned peer's kernel entries, as planSpec makes
// them; FDB.Dst is the peer's own public IP (want resolves shared MACs).
func (p *plan) entries(key netip.Prefix, pe peer) peerEntries {
	return entriesFor(p.local, key, pe)
}

func entriesFor(l Local, key netip.Prefix, p peer) peerEntries {
	if p.direct {
		return peerEntries{Subnet: key, Direct: true, Route: dataplane.Route{
			Dst: key, Gw: p.public, LinkIndex: l.Underlay, Protocol: RouteProtocol, Metric: RouteMetric(key),
		}}
	}
	dev := l.Dev4
	if !key.Addr().Is4() {
		dev = l.Dev6
	}
	gw := key.Addr()
	return peerEntries{
		Subnet: key,
		Neigh:  dataplane.Neigh{LinkIndex: dev, IP: gw, MAC: p.mac},
		FDB:    dataplane.FDBEntry{LinkIndex: dev, MAC: p.mac, Dst: p.public},
		Route:  dataplane.Route{Dst: key, Gw: gw, LinkIndex: dev, OnLink: true, Protocol: RouteProtocol, Metric: RouteMetric(key)},
	}
}

// want returns the entries the plan wants for peer key, the FDB entry
// with the destination chosen among the peers sharing its MAC.
func (p *plan) want(key netip.Prefix) (peerEntries, bool) {
	pe, ok := p.peers[key]
	if !ok {
		return peerEntries{}, false
	}
	e := p.entries(key, pe)
	if !pe.direct {
		e.FDB.Dst = p.fdb[fdbKeyOf(e.FDB)].dst
	}
	return e, true
}

// fdbEntry returns the planned FDB entry of a MAC on a link.
func (p *plan) fdbEntry(k fdbKey) (dataplane.FDBEntry, bool) {
	f, ok := p.fdb[k]
	return dataplane.FDBEntry{LinkIndex: k.Link, MAC: k.MAC, Dst: f.dst}, ok
}

// sortedKeys returns the planned peers' subnets in the differ's order.
func (p *plan) sortedKeys() []netip.Prefix {
	keys := make([]netip.Prefix, 0, len(p.peers))
	for k := range p.peers {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, comparePrefixes)
	return keys
}

// addPeer plans e for the lease of IPv4 subnet sn; nothing of it is in the
// kernel yet as far as the backend knows.
func (p *plan) addPeer(sn netip.Prefix, e peerEntries, rev int64) {
	pe := peerOf(e)
	pe.rev = rev
	p.peers[e.Subnet] = pe
	if e.Subnet != sn {
		p.v6of[sn] = e.Subnet
	}
	if p.counts(e.Subnet) {
		p.desired4++
	}
	if !slices.Contains(p.lens, e.Subnet.Bits()) {
		p.lens = append(p.lens, e.Subnet.Bits())
	}
	if !e.Direct {
		// Two leases with one VTEP MAC are one node seen twice (say its
		// address changed while its old lease lives on): the kernel holds
		// one destination per MAC, and the newest lease decides it, in
		// whatever order the leases come.
		k := fdbKeyOf(e.FDB)
		f := p.fdb[k]
		if f.refs == 0 || newerDst(rev, e.FDB.Dst, f.rev, f.dst) {
			if f.dst != e.FDB.Dst {
				f.has = false
			}
			f.dst, f.rev = e.FDB.Dst, rev
		}
		f.refs++
		p.fdb[k] = f
	}
}

// removePeer drops a planned peer (and its FDB entry when no other peer
// shares it). moved reports that a shared FDB entry's destination changed.
func (p *plan) removePeer(key netip.Prefix) (old peer, ok, moved bool) {
	old, ok = p.peers[key]
	if !ok {
		return old, false, false
	}
	delete(p.peers, key)
	if p.counts(key) {
		p.desired4--
	}
	if !old.direct {
		k := p.peerFDBKey(key, old)
		if f := p.fdb[k]; f.refs <= 1 {
			delete(p.fdb, k)
		} else {
			f.refs--
			if old.public == f.dst && old.rev == f.rev {
				moved = p.rechooseDst(k, &f)
			}
			p.fdb[k] = f
		}
	}
	return old, true, moved
}

// newerDst orders candidate FDB destinations: the newer lease, then (for
// equal revisions, as in tests) the larger address, so the choice never
// depends on map order.
func newerDst(rev int64, dst netip.Addr, curRev int64, cur netip.Addr) bool {
	return rev > curRev || (rev == curRev && dst.Compare(cur) > 0)
}

// rechooseDst picks the destination of a shared FDB entry again after the
// peer that decided it left, and reports whether it moved. It scans the
// peers, which only happens when two leases share a VTEP MAC.
func (p *plan) rechooseDst(k fdbKey, f *fdbRef) bool {
	var best peer
	found := false
	for key, pe := range p.peers {
		if pe.direct || p.peerFDBKey(key, pe) != k {
			continue
		}
		if !found || newerDst(pe.rev, pe.public, best.rev, best.public) {
			best, found = pe, true
		}
	}
	if !found || best.public == f.dst {
		return false
	}
	f.dst, f.rev, f.has = best.public, best.rev, false
	return true
}

func (p *plan) peerFDBKey(key netip.Prefix, pe peer) fdbKey {
	return fdbKeyOf(p.entries(key, pe).FDB)
}

// peerByGw finds the non-direct peer whose neighbour entry is (link, ip).
func (p *plan) peerByGw(link int, ip netip.Addr) (netip.Prefix, peer, bool) {
	for _, bits := range p.lens {
		if bits > ip.BitLen() {
			continue
		}
		k := netip.PrefixFrom(ip, bits)
		if k.Masked() != k {
			continue
		}
		if pe, ok := p.peers[k]; ok && !pe.direct && p.entries(k, pe).Neigh.LinkIndex == link {
			return k, pe, true
		}
	}
	return netip.Prefix{}, peer{}, false
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

func comparePrefixes(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}
