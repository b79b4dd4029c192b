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
	hadDevice  map[string]bool // devices that existed once: re-creating one is a repair
	underlayUp bool
}

func newLoopState() *loopState {
	return &loopState{
		leases: map[netip.Prefix]subnet.Lease{}, peers: map[netip.Prefix]PeerEntries{},
		want: NewState(), fdbRefs: map[FDBKey]int{}, applied: NewState(),
		programmed: map[netip.Prefix]bool{}, since: map[netip.Prefix]time.Time{},
		warned: map[netip.Prefix]string{}, hadDevice: map[string]bool{}, needFull: true,
	}
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
	}
	ls.want.addPeer(e)
}

func (ls *loopState) dropWant(e PeerEntries) {
	if !e.Direct {
		k := fdbKey(e.FDB)
		if ls.fdbRefs[k]--; ls.fdbRefs[k] > 0 {
			// Another peer still needs this FDB entry: keep it.
			delete(ls.want.Neighs, neighKey(e.Neigh))
			delete(ls.want.Routes, e.Route.Dst)
			return
		}
		delete(ls.fdbRefs, k)
	}
	ls.want.delPeer(e)
}

// replacePeers installs a freshly planned peer set.
func (ls *loopState) replacePeers(peers map[netip.Prefix]PeerEntries) {
	ls.peers, ls.want, ls.fdbRefs = map[netip.Prefix]PeerEntries{}, NewState(), map[FDBKey]int{}
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
func (q *repairQueue) reset()   { *q = repairQueue{} }

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
		if !ls.isDev(k.Link) {
			return
		}
		if _, ok := ls.want.Neighs[k]; ok {
			delete(ls.applied.Neighs, k)
			ls.repairs.neighs = append(ls.repairs.neighs, k)
		}
	case dataplane.FDBUpdate:
		k := fdbKey(u.FDB)
		if w, ok := ls.want.FDB[k]; ok && w.Dst == u.FDB.Dst && ls.isDev(k.Link) {
			delete(ls.applied.FDB, k)
			ls.repairs.fdb = append(ls.repairs.fdb, k)
		}
	case dataplane.RouteUpdate:
		r := u.Route
		if ws, ok := ls.want.Routes[r.Dst]; ok && ws[0].LinkIndex == r.LinkIndex && ws[0].Protocol == r.Protocol {
			ls.applied.applied(Op{Kind: OpDelRoute, Route: r})
			ls.repairs.routes = append(ls.repairs.routes, r.Dst)
		}
	}
}
