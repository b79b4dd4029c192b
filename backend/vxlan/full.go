// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/weft-net/weft/backend/dataplane"
)

// fullChunk is how many peers a full reconcile programs per round: their
// neighbour entries, then their FDB entries, then their routes. Rounds keep
// the ordering rule (a route only after its gateway's entries) without
// materialising the operations for every peer at once: a cold start with
// 5,000 peers would otherwise build and sort 15,000 of them.
const fullChunk = 256

// dump is what observe read from the kernel.
type dump struct {
	neighs []dataplane.Neigh
	fdb    []dataplane.FDBEntry
	routes []dataplane.Route
}

// stale are the kernel entries a full reconcile deletes: routes to
// destinations no longer planned (before anything else), and, once the
// planned routes are in, neighbour and FDB entries nobody plans and routes
// of other owners to planned destinations.
type stale struct {
	routes, routesLast []dataplane.Route
	neighs             []dataplane.Neigh
	fdb                []dataplane.FDBEntry
}

// reconcileFull ensures the devices, plans every peer, reads the kernel's
// tables and applies the difference, in the order Diff documents. It
// returns the number of repairs (entries restored that the backend had
// programmed, and devices re-created).
func (b *Backend) reconcileFull(ls *loopState) (int, error) {
	ls.repairs.reset()
	prev := ls.local
	repairs, recreated, planOK, devErr := b.ensureDevices(ls)
	if !planOK || !b.in.hasPeers() {
		// Before the first SetPeers an empty set means "not known yet", not
		// "no peers": a restart must not delete what it will program again.
		return repairs, devErr
	}
	b.replan(ls, prev)
	d, err := b.observe(ls.local)
	if err != nil {
		return repairs, errors.Join(devErr, err)
	}
	st := ls.absorb(d)
	ls.own = newOwnDeletes()
	fa := fullApply{b: b, ls: ls, recreated: recreated}
	fa.run(st)
	ls.recountAll()
	if fa.ops > 0 {
		b.log.WithFields(logrus.Fields{"ops": fa.ops, "applied": fa.ok, "repairs": fa.repairs, "peers": ls.programmed}).
			Info("kernel reconciled")
	}
	// A device problem is still an error (retried, reported in Status),
	// but the peers were programmed meanwhile.
	return repairs + fa.repairs, errors.Join(devErr, fa.err())
}

// replan plans every peer of the inbox afresh. What the kernel was known
// to hold carries over for the entries that did not change.
func (b *Backend) replan(ls *loopState, prev Local) {
	oldPeers, oldFDB := ls.peers, ls.fdb
	ls.peers, ls.fdb = make(map[netip.Prefix]peer, len(oldPeers)), make(map[FDBKey]fdbRef, len(oldFDB))
	ls.v6of, ls.lens, ls.desired4, ls.programmed = map[netip.Prefix]netip.Prefix{}, nil, 0, 0
	var problems []Problem
	b.in.each(func(sn netip.Prefix, s peerSpec) {
		if err := planSpec(ls.local, sn, &s, func(e PeerEntries) { ls.addPeer(sn, e, s.rev) }); err != nil {
			problems = append(problems, Problem{Subnet: sn, Err: err})
		}
	})
	b.warnProblems(ls, problems)
	for k, p := range ls.peers {
		old, ok := oldPeers[k]
		if !ok {
			continue
		}
		was, now := entriesFor(prev, k, old), ls.entries(k, p)
		if !p.direct && was.Neigh == now.Neigh {
			p.bits |= old.bits & hasNeigh
		}
		if was.Route == now.Route {
			p.bits |= old.bits & hasRoute
		}
		ls.peers[k] = p
	}
	for k, f := range ls.fdb {
		if o, ok := oldFDB[k]; ok && o.dst == f.dst && o.has {
			f.has = true
			ls.fdb[k] = f
		}
	}
}

// absorb replaces what the backend believed the kernel holds with what a
// dump shows (keeping the belief in had*, to count repairs), and returns
// the entries to delete.
func (ls *loopState) absorb(d dump) stale {
	for k, p := range ls.peers {
		p.bits = (p.bits&(hasNeigh|hasRoute))<<2 | p.bits&^(hasNeigh|hasRoute|hadNeigh|hadRoute|counted)
		ls.peers[k] = p
	}
	ls.programmed = 0
	for k, f := range ls.fdb {
		f.had, f.has = f.has, false
		ls.fdb[k] = f
	}
	var st stale
	for _, n := range d.neighs {
		k, p, ok := ls.peerByGw(n.LinkIndex, n.IP)
		switch {
		case !ok:
			st.neighs = append(st.neighs, n)
		case ls.entries(k, p).Neigh == n:
			p.bits |= hasNeigh
			ls.peers[k] = p
		} // else planned with another MAC: setting it replaces it
	}
	for _, e := range d.fdb {
		f, ok := ls.fdb[fdbKey(e)]
		switch {
		case !ok:
			st.fdb = append(st.fdb, e)
		case f.dst == e.Dst:
			f.has = true
			ls.fdb[fdbKey(e)] = f
		}
	}
	for _, r := range d.routes {
		p, ok := ls.peers[r.Dst]
		if !ok {
			st.routes = append(st.routes, r)
			continue
		}
		switch w := ls.entries(r.Dst, p).Route; {
		case r == w:
			p.bits |= hasRoute
			ls.peers[r.Dst] = p
		case r.LinkIndex != w.LinkIndex || r.Protocol != w.Protocol:
			st.routesLast = append(st.routesLast, r)
		}
	}
	return st
}

// fullApply runs a full reconcile's operations as it generates them.
type fullApply struct {
	b         *Backend
	ls        *loopState
	recreated map[int]bool
	ops, ok   int
	repairs   int
	failed    int
	errs      []error
}

func (fa *fullApply) do(op Op) bool {
	fa.ops++
	if err := run(fa.b.dp, op); err != nil {
		fa.failed++
		if len(fa.errs) < maxErrors {
			fa.errs = append(fa.errs, err)
		}
		return false
	}
	fa.ls.own.record(op)
	fa.ok++
	return true
}

func (fa *fullApply) err() error {
	if fa.failed > len(fa.errs) {
		fa.errs = append(fa.errs, fmt.Errorf("%d of %d operations failed", fa.failed, fa.ops))
	}
	return errors.Join(fa.errs...)
}

// repair counts an add as a repair when it restores what the backend had
// programmed, or refills a re-created device.
func (fa *fullApply) repair(had bool, link int) {
	if had || fa.recreated[link] {
		fa.repairs++
	}
}

// run applies the phases of Diff: stale routes; per chunk of peers,
// neighbour and FDB entries, then routes; then the remaining stale entries.
func (fa *fullApply) run(st stale) {
	slices.SortFunc(st.routes, compareRoutes)
	for _, r := range st.routes {
		fa.do(Op{Kind: OpDelRoute, Route: r})
	}
	keys := make([]netip.Prefix, 0, len(fa.ls.peers))
	for k := range fa.ls.peers {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, comparePrefixes)
	for len(keys) > 0 {
		n := min(fullChunk, len(keys))
		fa.chunk(keys[:n])
		keys = keys[n:]
	}
	slices.SortFunc(st.routesLast, compareRoutes)
	for _, r := range st.routesLast {
		fa.do(Op{Kind: OpDelRoute, Route: r})
	}
	slices.SortFunc(st.neighs, func(a, b dataplane.Neigh) int {
		return cmp.Or(cmp.Compare(a.LinkIndex, b.LinkIndex), a.IP.Compare(b.IP))
	})
	for _, n := range st.neighs {
		fa.do(Op{Kind: OpDelNeigh, Neigh: n})
	}
	slices.SortFunc(st.fdb, func(a, b dataplane.FDBEntry) int {
		return cmp.Or(cmp.Compare(a.LinkIndex, b.LinkIndex), a.Dst.Compare(b.Dst), slices.Compare(a.MAC[:], b.MAC[:]))
	})
	for _, e := range st.fdb {
		fa.do(Op{Kind: OpDelFDB, FDB: e})
	}
}

// chunk programs the missing entries of some peers: neighbours, FDB
// entries, then the routes whose gateway entries are in place.
func (fa *fullApply) chunk(keys []netip.Prefix) {
	ls := fa.ls
	for _, k := range keys {
		if p := ls.peers[k]; !p.direct && p.bits&hasNeigh == 0 {
			e := ls.entries(k, p)
			fa.repair(p.bits&hadNeigh != 0, e.Neigh.LinkIndex)
			if fa.do(Op{Kind: OpSetNeigh, Neigh: e.Neigh}) {
				p.bits |= hasNeigh
				ls.peers[k] = p
			}
		}
	}
	for _, k := range keys {
		if p := ls.peers[k]; !p.direct {
			fk := ls.fdbKeyOf(k, p)
			if f := ls.fdb[fk]; !f.has {
				fa.repair(f.had, fk.Link)
				f.has = fa.do(Op{Kind: OpSetFDB, FDB: dataplane.FDBEntry{LinkIndex: fk.Link, MAC: fk.MAC, Dst: f.dst}})
				ls.fdb[fk] = f
			}
		}
	}
	for _, k := range keys {
		p := ls.peers[k]
		if p.bits&hasRoute != 0 {
			continue
		}
		e := ls.entries(k, p)
		if !p.direct && (p.bits&hasNeigh == 0 || !ls.fdb[fdbKey(e.FDB)].has) {
			// The kernel would ARP for the gateway over the overlay.
			fa.ops++
			fa.failed++
			continue
		}
		fa.repair(p.bits&hadRoute != 0, e.Route.LinkIndex)
		if fa.do(Op{Kind: OpReplaceRoute, Route: e.Route}) {
			p.bits |= hasRoute
			ls.peers[k] = p
		}
	}
}

func comparePrefixes(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

func compareRoutes(a, b dataplane.Route) int {
	return cmp.Or(comparePrefixes(a.Dst, b.Dst), cmp.Compare(a.LinkIndex, b.LinkIndex), cmp.Compare(a.Protocol, b.Protocol))
}
