// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"net/netip"
	"slices"
	"time"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

// loopState is owned by the Run goroutine: the planned entries, what the
// backend believes the kernel holds of them, and pending work. The peer
// set lives once, in compact form: a peer's neighbour, FDB entry and route
// are derived from it and Local on demand (entries), and what the kernel
// holds is a few bits per peer, not a second copy of the tables.
type loopState struct {
	local Local
	peers map[netip.Prefix]peer // planned peers by family subnet
	fdb   map[FDBKey]fdbRef     // their FDB entries: peers re-leased with one MAC share one
	v6of  map[netip.Prefix]netip.Prefix
	// lens are the prefix lengths of the planned subnets, so a neighbour
	// entry's IP (a subnet's network address) finds its peer.
	lens       []int
	desired4   int // IPv4 peers planned (IPv6 peers if v6only)
	programmed int // IPv4 peers whose entries are all in the kernel (IPv6 if v6only)
	v6only     bool
	since      map[netip.Prefix]time.Time
	sinceAll   time.Time               // see inbox.sinceAll
	warned     map[netip.Prefix]string // the problem last logged per subnet
	needFull   bool
	repairs    repairQueue
	own        ownDeletes
	hadDevice  map[string]bool // devices that existed once: re-creating one is a repair
	underlayUp bool
}

// peer is one planned peer subnet in one family; with its key and Local it
// determines the peer's PeerEntries.
type peer struct {
	public netip.Addr // FDB destination, or the direct route's gateway
	rev    int64      // its lease's ModRevision
	mac    subnet.MAC
	direct bool
	bits   peerBits
}

type peerBits uint8

const (
	hasNeigh peerBits = 1 << iota // the kernel holds the planned neighbour entry
	hasRoute                      // and the planned route
	hadNeigh                      // held before a full reconcile's dump (repairs count)
	hadRoute
	counted // counted in loopState.programmed
)

// fdbRef is one planned FDB entry.
type fdbRef struct {
	dst      netip.Addr
	rev      int64 // ModRevision of the lease dst comes from
	refs     int32
	has, had bool // in the kernel; before the last dump
}

func newLoopState() *loopState {
	return &loopState{
		peers: map[netip.Prefix]peer{}, fdb: map[FDBKey]fdbRef{}, v6of: map[netip.Prefix]netip.Prefix{},
		since: map[netip.Prefix]time.Time{}, warned: map[netip.Prefix]string{}, hadDevice: map[string]bool{},
		needFull: true, own: newOwnDeletes(),
	}
}

func peerOf(e PeerEntries) peer {
	if e.Direct {
		return peer{public: e.Route.Gw, direct: true}
	}
	return peer{public: e.FDB.Dst, mac: e.Neigh.MAC}
}

// entries derives a planned peer's kernel entries, as Plan makes them.
func (ls *loopState) entries(key netip.Prefix, p peer) PeerEntries {
	return entriesFor(ls.local, key, p)
}

func entriesFor(l Local, key netip.Prefix, p peer) PeerEntries {
	if p.direct {
		return PeerEntries{Subnet: key, Direct: true, Route: dataplane.Route{
			Dst: key, Gw: p.public, LinkIndex: l.Underlay, Protocol: RouteProtocol,
		}}
	}
	dev := l.Dev4
	if !key.Addr().Is4() {
		dev = l.Dev6
	}
	gw := key.Addr()
	return PeerEntries{
		Subnet: key,
		Neigh:  dataplane.Neigh{LinkIndex: dev, IP: gw, MAC: p.mac},
		FDB:    dataplane.FDBEntry{LinkIndex: dev, MAC: p.mac, Dst: p.public},
		Route:  dataplane.Route{Dst: key, Gw: gw, LinkIndex: dev, OnLink: true, Protocol: RouteProtocol},
	}
}

// addPeer plans e for the lease of IPv4 subnet sn; nothing of it is in the
// kernel yet as far as the backend knows.
func (ls *loopState) addPeer(sn netip.Prefix, e PeerEntries, rev int64) {
	p := peerOf(e)
	p.rev = rev
	ls.peers[e.Subnet] = p
	if e.Subnet != sn {
		ls.v6of[sn] = e.Subnet
	}
	if ls.counts(e.Subnet) {
		ls.desired4++
	}
	if !slices.Contains(ls.lens, e.Subnet.Bits()) {
		ls.lens = append(ls.lens, e.Subnet.Bits())
	}
	if !e.Direct {
		// Two leases with one VTEP MAC are one node seen twice (say its
		// address changed while its old lease lives on): the kernel holds
		// one destination per MAC, and the newest lease decides it, in
		// whatever order the leases come.
		k := fdbKey(e.FDB)
		f := ls.fdb[k]
		if f.refs == 0 || newerDst(rev, e.FDB.Dst, f.rev, f.dst) {
			if f.dst != e.FDB.Dst {
				f.has = false
			}
			f.dst, f.rev = e.FDB.Dst, rev
		}
		f.refs++
		ls.fdb[k] = f
	}
}

// removePeer drops a planned peer (and its FDB entry when no other peer
// shares it).
func (ls *loopState) removePeer(key netip.Prefix) {
	p, ok := ls.peers[key]
	if !ok {
		return
	}
	delete(ls.peers, key)
	if ls.counts(key) {
		ls.desired4--
	}
	if p.bits&counted != 0 {
		ls.programmed--
	}
	if !p.direct {
		k := ls.fdbKeyOf(key, p)
		if f := ls.fdb[k]; f.refs <= 1 {
			delete(ls.fdb, k)
		} else {
			f.refs--
			if p.public == f.dst && p.rev == f.rev {
				ls.rechooseDst(k, &f)
			}
			ls.fdb[k] = f
		}
	}
}

// newerDst orders candidate FDB destinations: the newer lease, then (for
// equal revisions, as in tests) the larger address, so the choice never
// depends on map order.
func newerDst(rev int64, dst netip.Addr, curRev int64, cur netip.Addr) bool {
	return rev > curRev || (rev == curRev && dst.Compare(cur) > 0)
}

// rechooseDst picks the destination of a shared FDB entry again after the
// peer that decided it left. It scans the peers, which only happens when
// two leases share a VTEP MAC, and asks for a full reconcile to rewrite
// the entry if the destination moved.
func (ls *loopState) rechooseDst(k FDBKey, f *fdbRef) {
	var best peer
	found := false
	for key, p := range ls.peers {
		if p.direct || ls.fdbKeyOf(key, p) != k {
			continue
		}
		if !found || newerDst(p.rev, p.public, best.rev, best.public) {
			best, found = p, true
		}
	}
	if found && best.public != f.dst {
		f.dst, f.rev, f.has = best.public, best.rev, false
		ls.needFull = true
	}
}

func (ls *loopState) fdbKeyOf(key netip.Prefix, p peer) FDBKey {
	return fdbKey(ls.entries(key, p).FDB)
}

// peerByGw finds the non-direct peer whose neighbour entry is (link, ip).
func (ls *loopState) peerByGw(link int, ip netip.Addr) (netip.Prefix, peer, bool) {
	for _, bits := range ls.lens {
		if bits > ip.BitLen() {
			continue
		}
		k := netip.PrefixFrom(ip, bits)
		if k.Masked() != k {
			continue
		}
		if p, ok := ls.peers[k]; ok && !p.direct && ls.entries(k, p).Neigh.LinkIndex == link {
			return k, p, true
		}
	}
	return netip.Prefix{}, peer{}, false
}

// isProgrammed reports whether all of a peer's entries are in the kernel.
func (ls *loopState) isProgrammed(key netip.Prefix, p peer) bool {
	if p.bits&hasRoute == 0 {
		return false
	}
	if p.direct {
		return true
	}
	f := ls.fdb[ls.fdbKeyOf(key, p)]
	return p.bits&hasNeigh != 0 && f.has && f.dst == p.public
}

// recount updates programmed for the given peers (IPv4 only count).
func (ls *loopState) recount(keys ...netip.Prefix) {
	for _, k := range keys {
		p, ok := ls.peers[k]
		if !ok || !ls.counts(k) {
			continue
		}
		now := ls.isProgrammed(k, p)
		if was := p.bits&counted != 0; now != was {
			p.bits ^= counted
			ls.peers[k] = p
			if now {
				ls.programmed++
			} else {
				ls.programmed--
			}
		}
	}
}

// recountAll recounts every peer.
func (ls *loopState) recountAll() {
	for k := range ls.peers {
		ls.recount(k)
	}
}

// recountMAC recounts the peers using an FDB entry, after its state changed.
func (ls *loopState) recountMAC(k FDBKey) {
	for key, p := range ls.peers {
		if !p.direct && p.mac == k.MAC {
			ls.recount(key)
		}
	}
}

func (ls *loopState) isProgrammedKey(key netip.Prefix) bool {
	return ls.peers[key].bits&counted != 0
}

// ownDeletes counts the deletions the backend made whose notifications
// have not arrived yet, so that their echo (which may arrive after the
// same entry was added again) is not mistaken for a deletion by hand.
type ownDeletes struct {
	neighs map[NeighKey]int
	fdb    map[dataplane.FDBEntry]int
	routes map[routeKey]int
}

type routeKey struct {
	dst   netip.Prefix
	link  int
	proto uint8
}

func newOwnDeletes() ownDeletes {
	return ownDeletes{neighs: map[NeighKey]int{}, fdb: map[dataplane.FDBEntry]int{}, routes: map[routeKey]int{}}
}

// record is Apply's done callback.
func (o ownDeletes) record(op Op) {
	switch op.Kind {
	case OpDelNeigh:
		o.neighs[neighKey(op.Neigh)]++
	case OpDelFDB:
		o.fdb[op.FDB]++
	case OpDelRoute:
		o.routes[routeKey{op.Route.Dst, op.Route.LinkIndex, op.Route.Protocol}]++
	}
}

// consume reports whether a deletion notice is the echo of our own delete.
func consume[K comparable](m map[K]int, k K) bool {
	if m[k] == 0 {
		return false
	}
	if m[k]--; m[k] == 0 {
		delete(m, k)
	}
	return true
}

func (ls *loopState) isDev(index int) bool {
	return index != 0 && (index == ls.local.Dev4 || index == ls.local.Dev6)
}

// repairQueue holds entries the kernel reported deleted while desired.
type repairQueue struct {
	neighs []NeighKey
	fdb    []FDBKey
	routes []netip.Prefix
}

func (q *repairQueue) len() int { return len(q.neighs) + len(q.fdb) + len(q.routes) }

func (q *repairQueue) reset() { *q = repairQueue{} }

// onEntryUpdate records a kernel notification about a neighbour, FDB or
// route entry. Only deletions of planned entries matter between resyncs:
// the entry is marked missing and queued for repair. Everything else (the
// echo of what the backend itself added, above all) costs a lookup at most.
func (ls *loopState) onEntryUpdate(u dataplane.Update) {
	if !u.Deleted {
		return
	}
	switch u.Kind {
	case dataplane.NeighUpdate:
		k := neighKey(u.Neigh)
		if !ls.isDev(k.Link) || consume(ls.own.neighs, k) {
			return
		}
		if key, p, ok := ls.peerByGw(k.Link, k.IP); ok {
			p.bits &^= hasNeigh
			ls.peers[key] = p
			ls.repairs.neighs = append(ls.repairs.neighs, k)
		}
	case dataplane.FDBUpdate:
		k := fdbKey(u.FDB)
		if !ls.isDev(k.Link) || consume(ls.own.fdb, u.FDB) {
			return
		}
		if f, ok := ls.fdb[k]; ok && f.dst == u.FDB.Dst {
			f.has = false
			ls.fdb[k] = f
			ls.repairs.fdb = append(ls.repairs.fdb, k)
		}
	case dataplane.RouteUpdate:
		r := u.Route
		if consume(ls.own.routes, routeKey{r.Dst, r.LinkIndex, r.Protocol}) {
			return
		}
		p, ok := ls.peers[r.Dst]
		if !ok {
			return
		}
		if w := ls.entries(r.Dst, p).Route; w.LinkIndex == r.LinkIndex && w.Protocol == r.Protocol {
			p.bits &^= hasRoute
			ls.peers[r.Dst] = p
			ls.repairs.routes = append(ls.repairs.routes, r.Dst)
		}
	}
}

// heldInto adds to s the entries of a planned peer the kernel holds.
func (ls *loopState) heldInto(s State, key netip.Prefix, p peer) {
	e := ls.entries(key, p)
	if !p.direct {
		if p.bits&hasNeigh != 0 {
			s.Neighs[neighKey(e.Neigh)] = e.Neigh
		}
		k := fdbKey(e.FDB)
		if f := ls.fdb[k]; f.has {
			s.FDB[k] = dataplane.FDBEntry{LinkIndex: k.Link, MAC: k.MAC, Dst: f.dst}
		}
	}
	if p.bits&hasRoute != 0 {
		s.Routes[key] = []dataplane.Route{e.Route}
	}
}

// wantInto adds to s the planned entries of a peer.
func (ls *loopState) wantInto(s State, key netip.Prefix, p peer) {
	e := ls.entries(key, p)
	if !p.direct {
		s.Neighs[neighKey(e.Neigh)] = e.Neigh
		k := fdbKey(e.FDB)
		s.FDB[k] = dataplane.FDBEntry{LinkIndex: k.Link, MAC: k.MAC, Dst: ls.fdb[k].dst}
	}
	s.Routes[key] = []dataplane.Route{e.Route}
}

// learn records, for the given peers, which of their planned entries held
// (the kernel's state after an Apply) contains.
func (ls *loopState) learn(keys []netip.Prefix, held State) {
	for _, k := range keys {
		p, ok := ls.peers[k]
		if !ok {
			continue
		}
		e := ls.entries(k, p)
		p.bits &^= hasNeigh | hasRoute
		if !p.direct && held.Neighs[neighKey(e.Neigh)] == e.Neigh {
			p.bits |= hasNeigh
		}
		if slices.Contains(held.Routes[k], e.Route) {
			p.bits |= hasRoute
		}
		ls.peers[k] = p
		if !p.direct {
			if fk := fdbKey(e.FDB); ls.learnFDB(fk, held) && ls.fdb[fk].refs > 1 {
				ls.recountMAC(fk) // the peers sharing it
			}
		}
		ls.recount(k)
	}
}

// learnFDB records whether held contains a planned FDB entry, and
// reports whether that changed.
func (ls *loopState) learnFDB(k FDBKey, held State) bool {
	f, ok := ls.fdb[k]
	if !ok {
		return false
	}
	has := held.FDB[k] == dataplane.FDBEntry{LinkIndex: k.Link, MAC: k.MAC, Dst: f.dst}
	if has == f.has {
		return false
	}
	f.has = has
	ls.fdb[k] = f
	return true
}
