// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"net/netip"
	"slices"
	"time"

	"github.com/weft-net/weft/backend/dataplane"
)

// loopState is owned by the Run goroutine: the plan, with what the backend
// believes the kernel holds of it (a few bits per peer, not a second copy
// of the tables), and pending work.
type loopState struct {
	plan
	programmed int // IPv4 peers whose entries are all in the kernel
	since      map[netip.Prefix]time.Time
	sinceAll   time.Time               // see inbox.sinceAll
	warned     map[netip.Prefix]string // the problem last logged per subnet
	needFull   bool
	// planned: the plan follows the inbox's peer set; a full reconcile
	// then updates it with the batch's changes instead of planning every
	// peer again (two plans side by side were 2 MB at 10,000 peers, at
	// the overrun-triggered resync that was weftd's peak memory).
	planned    bool
	repairs    repairQueue
	own        ownDeletes
	hadDevice  map[string]bool // devices that existed once: re-creating one is a repair
	underlayUp bool
}

func newLoopState() *loopState {
	return &loopState{
		plan:  newPlan(Local{}),
		since: map[netip.Prefix]time.Time{}, warned: map[netip.Prefix]string{}, hadDevice: map[string]bool{},
		needFull: true, own: newOwnDeletes(),
	}
}

// removePeer drops a planned peer; a shared FDB entry that moved to
// another VTEP asks for a full reconcile too, in case the backend did not
// believe the kernel held it (then no diff of the changed peers sees it).
func (ls *loopState) removePeer(key netip.Prefix) {
	old, ok, moved := ls.plan.removePeer(key)
	if ok && old.bits&counted != 0 {
		ls.programmed--
	}
	if moved {
		ls.needFull = true
	}
}

// isProgrammed reports whether all of a peer's entries are in the kernel.
func (ls *loopState) isProgrammed(key netip.Prefix, p peer) bool {
	if p.bits&hasRoute == 0 {
		return false
	}
	if p.direct {
		return true
	}
	f := ls.fdb[ls.peerFDBKey(key, p)]
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

// recountPeers recounts the given peers and, for a shared FDB entry, the
// other peers using it.
func (ls *loopState) recountPeers(keys []netip.Prefix) {
	for _, k := range keys {
		if p, ok := ls.peers[k]; ok && !p.direct {
			if fk := ls.peerFDBKey(k, p); ls.fdb[fk].refs > 1 {
				ls.recountMAC(fk)
			}
		}
		ls.recount(k)
	}
}

// recountMAC recounts the peers using an FDB entry.
func (ls *loopState) recountMAC(k fdbKey) {
	for key, p := range ls.peers {
		if !p.direct && p.mac == k.MAC {
			ls.recount(key)
		}
	}
}

func (ls *loopState) isProgrammedKey(key netip.Prefix) bool {
	return ls.peers[key].bits&counted != 0
}

// learn records, for the given peers, which of their planned entries have
// (the kernel's tables, or what the backend believed of them) holds. It
// returns how many entries the backend believed held that are missing: a
// full reconcile restores them and counts them as repairs.
func (ls *loopState) learn(keys []netip.Prefix, have *state) (lost int) {
	for _, k := range keys {
		p, ok := ls.peers[k]
		if !ok {
			continue
		}
		e := ls.entries(k, p)
		var bits peerBits
		if !p.direct && have.hasNeigh(e.Neigh) {
			bits |= hasNeigh
		}
		if have.hasRoute(e.Route) {
			bits |= hasRoute
		}
		for _, b := range []peerBits{hasNeigh, hasRoute} {
			if p.bits&b != 0 && bits&b == 0 {
				lost++
			}
		}
		p.bits = p.bits&^(hasNeigh|hasRoute) | bits
		ls.peers[k] = p
		if !p.direct {
			k := fdbKeyOf(e.FDB)
			if f, ok := ls.fdb[k]; ok {
				held := have.hasFDB(dataplane.FDBEntry{LinkIndex: k.Link, MAC: k.MAC, Dst: f.dst})
				if f.has && !held {
					lost++
				}
				f.has = held
				ls.fdb[k] = f
			}
		}
	}
	return lost
}

// applied is the applier's done callback: it records a successful op in
// what the backend believes the kernel holds.
func (ls *loopState) applied(op Op) {
	ls.own.record(op)
	switch op.Kind {
	case OpSetNeigh:
		if k, p, ok := ls.peerByGw(op.Neigh.LinkIndex, op.Neigh.IP); ok && ls.entries(k, p).Neigh == op.Neigh {
			p.bits |= hasNeigh
			ls.peers[k] = p
		}
	case OpSetFDB:
		k := fdbKeyOf(op.FDB)
		if f, ok := ls.fdb[k]; ok && f.dst == op.FDB.Dst {
			f.has = true
			ls.fdb[k] = f
		}
	case OpReplaceRoute:
		if p, ok := ls.peers[op.Route.Dst]; ok && ls.entries(op.Route.Dst, p).Route == op.Route {
			p.bits |= hasRoute
			ls.peers[op.Route.Dst] = p
		}
	}
}

// heldInto adds to s the entries of a planned peer the kernel holds, as
// far as the backend knows (s.index before use).
func (ls *loopState) heldInto(s *state, key netip.Prefix, p peer) {
	e := ls.entries(key, p)
	if !p.direct {
		if p.bits&hasNeigh != 0 {
			s.addNeigh(e.Neigh)
		}
		k := fdbKeyOf(e.FDB)
		if f := ls.fdb[k]; f.has {
			s.addFDB(dataplane.FDBEntry{LinkIndex: k.Link, MAC: k.MAC, Dst: f.dst})
		}
	}
	if p.bits&hasRoute != 0 {
		s.addRoute(e.Route)
	}
}

// ownDeletes counts the deletions the backend made whose notifications
// have not arrived yet, so that their echo (which may arrive after the
// same entry was added again) is not mistaken for a deletion by hand.
type ownDeletes struct {
	neighs map[neighKey]int
	fdb    map[dataplane.FDBEntry]int
	routes map[routeKey]int
}

// routeKey identifies a deleted route: the kernel can hold several to one
// destination, which differ in metric (an older form beside the new one).
type routeKey struct {
	dst    netip.Prefix
	link   int
	proto  uint8
	metric uint32
}

func routeKeyOf(r dataplane.Route) routeKey {
	return routeKey{r.Dst, r.LinkIndex, r.Protocol, r.Metric}
}

func newOwnDeletes() ownDeletes {
	return ownDeletes{neighs: map[neighKey]int{}, fdb: map[dataplane.FDBEntry]int{}, routes: map[routeKey]int{}}
}

func (o ownDeletes) record(op Op) {
	switch op.Kind {
	case OpDelNeigh:
		o.neighs[neighKeyOf(op.Neigh)]++
	case OpDelFDB:
		o.fdb[op.FDB]++
	case OpDelRoute:
		o.routes[routeKeyOf(op.Route)]++
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

// repairQueue holds entries the kernel reported deleted while desired.
type repairQueue struct {
	neighs []neighKey
	fdb    []fdbKey
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
		k := neighKeyOf(u.Neigh)
		if !isDev(ls.local, k.Link) || consume(ls.own.neighs, k) {
			return
		}
		if key, p, ok := ls.peerByGw(k.Link, k.IP); ok {
			p.bits &^= hasNeigh
			ls.peers[key] = p
			ls.repairs.neighs = append(ls.repairs.neighs, k)
		}
	case dataplane.FDBUpdate:
		k := fdbKeyOf(u.FDB)
		if !isDev(ls.local, k.Link) || consume(ls.own.fdb, u.FDB) {
			return
		}
		if f, ok := ls.fdb[k]; ok && f.dst == u.FDB.Dst {
			f.has = false
			ls.fdb[k] = f
			ls.repairs.fdb = append(ls.repairs.fdb, k)
		}
	case dataplane.RouteUpdate:
		r := u.Route
		if consume(ls.own.routes, routeKeyOf(r)) {
			return
		}
		p, ok := ls.peers[r.Dst]
		if !ok {
			return
		}
		// Only the planned route counts: an older form deleted by hand
		// (another metric) is no loss.
		if w := ls.entries(r.Dst, p).Route; w.LinkIndex == r.LinkIndex && w.Protocol == r.Protocol && w.Metric == r.Metric {
			p.bits &^= hasRoute
			ls.peers[r.Dst] = p
			ls.repairs.routes = append(ls.repairs.routes, r.Dst)
		}
	}
}

// repairKeys returns the peers whose entries q reports deleted.
func (ls *loopState) repairKeys(q repairQueue) []netip.Prefix {
	var keys []netip.Prefix
	add := func(k netip.Prefix) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, nk := range q.neighs {
		if k, _, ok := ls.peerByGw(nk.Link, nk.IP); ok {
			add(k)
		}
	}
	for _, dst := range q.routes {
		if _, ok := ls.peers[dst]; ok {
			add(dst)
		}
	}
	if len(q.fdb) > 0 { // rare: FDB entries deleted by hand; their peers may be several
		for k, p := range ls.peers {
			if !p.direct && slices.Contains(q.fdb, ls.peerFDBKey(k, p)) {
				add(k)
			}
		}
	}
	return keys
}
