// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"net/netip"
	"time"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

// loopState is owned by the Run goroutine: the desired entries, what the
// backend believes the kernel holds, and pending work.
type loopState struct {
	local   Local
	leases  map[netip.Prefix]subnet.Lease // planned leases, by IPv4 subnet
	peers   map[netip.Prefix]PeerEntries  // planned entries, by family subnet
	want    State
	fdbRefs map[FDBKey]int // peers sharing one FDB entry (a node re-leased with the same MAC)
	// applied is the kernel state as last observed plus every op applied
	// since, minus entries the kernel reported deleted.
	applied    State
	programmed map[netip.Prefix]bool // IPv4 peer subnets whose entries are all applied
	since      map[netip.Prefix]time.Time
	warned     map[netip.Prefix]string // the problem last logged per subnet
	needFull   bool
	repairs    repairQueue
	own        ownDeletes
	byNeigh    map[NeighKey]netip.Prefix // peer subnet of each desired neighbour entry
	byFDB      map[FDBKey]netip.Prefix   // and of each desired FDB entry
	desired4   int                       // IPv4 peer subnets planned
	hadDevice  map[string]bool           // devices that existed once: re-creating one is a repair
	underlayUp bool
}

func newLoopState() *loopState {
	return &loopState{
		leases: map[netip.Prefix]subnet.Lease{}, peers: map[netip.Prefix]PeerEntries{},
		want: NewState(), fdbRefs: map[FDBKey]int{}, applied: NewState(),
		programmed: map[netip.Prefix]bool{}, since: map[netip.Prefix]time.Time{},
		warned: map[netip.Prefix]string{}, hadDevice: map[string]bool{}, needFull: true,
		own: newOwnDeletes(), byNeigh: map[NeighKey]netip.Prefix{}, byFDB: map[FDBKey]netip.Prefix{},
	}
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

// setPeer replaces the planned entries under one family subnet (ok false:
// removes them) and keeps want in step.
func (ls *loopState) setPeer(key netip.Prefix, e PeerEntries, ok bool) {
	if old, had := ls.peers[key]; had {
		ls.dropWant(old)
		delete(ls.peers, key)
	}
	if ok {
		ls.peers[key] = e
		ls.addWant(e)
	}
}

func (ls *loopState) addWant(e PeerEntries) {
	if !e.Direct {
		ls.fdbRefs[fdbKey(e.FDB)]++
		ls.byNeigh[neighKey(e.Neigh)] = e.Subnet
		ls.byFDB[fdbKey(e.FDB)] = e.Subnet
	}
	if e.Subnet.Addr().Is4() {
		ls.desired4++
	}
	ls.want.addPeer(e)
}

func (ls *loopState) dropWant(e PeerEntries) {
	if e.Subnet.Addr().Is4() {
		ls.desired4--
	}
	if !e.Direct {
		delete(ls.byNeigh, neighKey(e.Neigh))
		k := fdbKey(e.FDB)
		if ls.fdbRefs[k]--; ls.fdbRefs[k] > 0 {
			// Another peer still needs this FDB entry: keep it.
			delete(ls.want.Neighs, neighKey(e.Neigh))
			delete(ls.want.Routes, e.Route.Dst)
			return
		}
		delete(ls.fdbRefs, k)
		delete(ls.byFDB, k)
	}
	ls.want.delPeer(e)
}

// replacePeers installs a freshly planned peer set.
func (ls *loopState) replacePeers(peers map[netip.Prefix]PeerEntries) {
	ls.peers, ls.want, ls.fdbRefs = map[netip.Prefix]PeerEntries{}, NewState(), map[FDBKey]int{}
	ls.byNeigh, ls.byFDB, ls.desired4 = map[NeighKey]netip.Prefix{}, map[FDBKey]netip.Prefix{}, 0
	for k, e := range peers {
		ls.peers[k] = e
		ls.addWant(e)
	}
}

// isApplied reports whether all of a peer's entries are in the kernel.
func (ls *loopState) isApplied(e PeerEntries) bool {
	if !e.Direct {
		if ls.applied.Neighs[neighKey(e.Neigh)] != e.Neigh || ls.applied.FDB[fdbKey(e.FDB)] != e.FDB {
			return false
		}
	}
	for _, r := range ls.applied.Routes[e.Route.Dst] {
		if r == e.Route {
			return true
		}
	}
	return false
}

// markProgrammed updates programmed for the given IPv4 subnets.
func (ls *loopState) markProgrammed(keys ...netip.Prefix) {
	for _, k := range keys {
		if e, ok := ls.peers[k]; ok && k.Addr().Is4() && ls.isApplied(e) {
			ls.programmed[k] = true
		} else {
			delete(ls.programmed, k)
		}
	}
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

// subnets returns the peer subnets the queued keys belong to.
func (q *repairQueue) subnets(ls *loopState) []netip.Prefix {
	out := append([]netip.Prefix(nil), q.routes...)
	for _, k := range q.neighs {
		out = append(out, ls.byNeigh[k])
	}
	for _, k := range q.fdb {
		out = append(out, ls.byFDB[k])
	}
	return out
}
func (q *repairQueue) reset() { *q = repairQueue{} }

// desiredOf and appliedOf restrict want and applied to the queued keys.
func (q *repairQueue) restrict(s State) State {
	out := NewState()
	for _, k := range q.neighs {
		if n, ok := s.Neighs[k]; ok {
			out.Neighs[k] = n
		}
	}
	for _, k := range q.fdb {
		if e, ok := s.FDB[k]; ok {
			out.FDB[k] = e
		}
	}
	for _, k := range q.routes {
		if rs, ok := s.Routes[k]; ok {
			out.Routes[k] = rs
		}
	}
	return out
}

// onEntryUpdate records a kernel notification about a neighbour, FDB or
// route entry. Only deletions of desired entries matter between resyncs:
// the entry is dropped from applied and queued for repair.
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
		if _, ok := ls.want.Neighs[k]; ok {
			delete(ls.applied.Neighs, k)
			ls.repairs.neighs = append(ls.repairs.neighs, k)
		}
	case dataplane.FDBUpdate:
		k := fdbKey(u.FDB)
		if !ls.isDev(k.Link) || consume(ls.own.fdb, u.FDB) {
			return
		}
		if w, ok := ls.want.FDB[k]; ok && w.Dst == u.FDB.Dst {
			delete(ls.applied.FDB, k)
			ls.repairs.fdb = append(ls.repairs.fdb, k)
		}
	case dataplane.RouteUpdate:
		r := u.Route
		if consume(ls.own.routes, routeKey{r.Dst, r.LinkIndex, r.Protocol}) {
			return
		}
		if ws, ok := ls.want.Routes[r.Dst]; ok && ws[0].LinkIndex == r.LinkIndex && ws[0].Protocol == r.Protocol {
			ls.applied.applied(Op{Kind: OpDelRoute, Route: r})
			ls.repairs.routes = append(ls.repairs.routes, r.Dst)
		}
	}
}
