// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"cmp"
	"fmt"
	"iter"
	"net/netip"
	"slices"

	"github.com/weft-net/weft/backend/dataplane"
)

// OpKind is one dataplane verb.
type OpKind uint8

// Op kinds.
const (
	OpDelRoute OpKind = iota + 1
	OpSetNeigh
	OpSetFDB
	OpReplaceRoute
	OpDelNeigh
	OpDelFDB
)

// Op is one change to the kernel: the entry of the field matching Kind.
// An add of a peer's entry also carries the peer's other entries: a
// route's Neigh and FDB are its gateway's (zero for a direct route), which
// the applier checks before adding it; a neighbour's FDB names the peer's
// VTEP and an FDB entry's Route the peer's subnet, for weftctl doctor (an
// FDB entry moved to another lease of its MAC carries none).
type Op struct {
	Kind  OpKind
	Neigh dataplane.Neigh
	FDB   dataplane.FDBEntry
	Route dataplane.Route
}

func (o Op) String() string {
	switch o.Kind {
	case OpDelRoute:
		return fmt.Sprintf("del route %s dev %d proto %d%s", o.Route.Dst, o.Route.LinkIndex, o.Route.Protocol, metricText(o.Route))
	case OpSetNeigh:
		return fmt.Sprintf("set neigh %s lladdr %s dev %d", o.Neigh.IP, o.Neigh.MAC, o.Neigh.LinkIndex)
	case OpSetFDB:
		return fmt.Sprintf("set fdb %s dst %s dev %d", o.FDB.MAC, o.FDB.Dst, o.FDB.LinkIndex)
	case OpReplaceRoute:
		return fmt.Sprintf("replace route %s via %s dev %d%s", o.Route.Dst, o.Route.Gw, o.Route.LinkIndex, metricText(o.Route))
	case OpDelNeigh:
		return fmt.Sprintf("del neigh %s dev %d", o.Neigh.IP, o.Neigh.LinkIndex)
	case OpDelFDB:
		return fmt.Sprintf("del fdb %s dst %s dev %d", o.FDB.MAC, o.FDB.Dst, o.FDB.LinkIndex)
	}
	return "unknown op"
}

func metricText(r dataplane.Route) string {
	if r.Metric == 0 {
		return ""
	}
	return fmt.Sprintf(" metric %d", r.Metric)
}

// chunkPeers is how many peers the differ programs per chunk: their
// neighbour entries, then their FDB entries, then their routes. Chunks
// keep the ordering rule without materialising the operations for every
// peer at once: a cold start with 5,000 peers would otherwise build 15,000.
const chunkPeers = 256

// diff is weft's one differ: it yields, chunk by chunk, the operations
// that turn the kernel state have into the plan p for the peers keys (all
// planned peers for a full reconcile and weftctl doctor; the changed or
// repaired ones, with what the backend believes the kernel holds of them,
// for events and repairs). The order is the ordering rule:
//
//  1. routes to destinations no longer planned, so traffic stops before
//     its gateway's neighbour and FDB entries go;
//  2. per chunk of peers, the neighbour and FDB entries to add or change,
//     then the routes to add or change, so a route finds its gateway's
//     MAC and VTEP in place (the kernel never ARPs over the overlay),
//     then the other routes weft owns to those peers' subnets: older
//     forms (metric 0: an older weftd's, flanneld's) and other devices'.
//     An older form has a lower metric and carries the traffic until it
//     is deleted, by its metric, after the new route is in: the switch is
//     one route deletion, without a moment with no route;
//  3. FDB entries the plan moved to another peer's VTEP;
//  4. neighbour and FDB entries nothing plans, once nothing routes
//     through them.
//
// A changed MAC is thus make-before-break. Deletions are sorted, so the
// result is deterministic. diff is pure; a yielded chunk is valid until
// the next is asked for.
func diff(p *plan, keys []netip.Prefix, have *state) iter.Seq[[]Op] {
	if !slices.IsSortedFunc(keys, comparePrefixes) {
		keys = slices.Clone(keys)
		slices.SortFunc(keys, comparePrefixes)
	}
	return func(yield func([]Op) bool) {
		d := differ{p: p, have: have, yield: yield}
		d.run(keys)
	}
}

type differ struct {
	p     *plan
	have  *state
	yield func([]Op) bool
	buf   []Op
	ents  []peerEntries
	// setFDB are the FDB entries set so far that another peer, or a later
	// phase, could set again: shared ones and ones the kernel holds wrong.
	setFDB map[fdbKey]bool
}

func (d *differ) run(keys []netip.Prefix) {
	for _, r := range d.staleRoutes() {
		d.buf = append(d.buf, Op{Kind: OpDelRoute, Route: r})
	}
	if !d.flush() {
		return
	}
	for len(keys) > 0 {
		n := min(chunkPeers, len(keys))
		d.chunk(keys[:n])
		if !d.flush() {
			return
		}
		keys = keys[n:]
	}
	d.movedFDB()
	d.staleEntries()
	d.flush()
}

func (d *differ) flush() bool {
	if len(d.buf) == 0 {
		return true
	}
	ok := d.yield(d.buf)
	d.buf = d.buf[:0]
	return ok
}

// staleRoutes returns, sorted, the routes the kernel holds to
// destinations the plan does not want.
func (d *differ) staleRoutes() []dataplane.Route {
	var gone []dataplane.Route
	for _, r := range d.have.routes { // sorted
		if _, planned := d.p.peers[r.Dst]; !planned {
			gone = append(gone, r)
		}
	}
	return gone
}

// displaced appends to buf the routes the kernel holds to a planned peer's
// subnet besides the planned one: ours in another form or on another
// device, and flanneld's DirectRouting route through the peer's public
// IP. A route of ours that differs from the planned one only in its
// gateway is replaced by the add, not deleted; so is one on another device
// with the same metric (the delete then finds nothing).
func (d *differ) displaced(e *peerEntries) {
	w := e.Route
	start := len(d.buf)
	for _, r := range d.have.routesTo(w.Dst) {
		if r != w && (r.LinkIndex != w.LinkIndex || r.Protocol != w.Protocol || r.Metric != w.Metric) {
			d.buf = append(d.buf, Op{Kind: OpDelRoute, Route: r})
		}
	}
	if rs := d.have.leftovers[w.Dst]; len(rs) > 0 {
		public := d.p.peers[w.Dst].public
		for _, r := range rs {
			if r.Gw == public {
				d.buf = append(d.buf, Op{Kind: OpDelRoute, Route: r})
			}
		}
	}
	slices.SortFunc(d.buf[start:], func(a, b Op) int { return compareRoutes(a.Route, b.Route) })
}

// chunk adds or changes the entries of some peers that the kernel does not
// hold: neighbour entries, FDB entries, then routes.
func (d *differ) chunk(keys []netip.Prefix) {
	d.ents = d.ents[:0]
	for _, k := range keys {
		if e, ok := d.p.want(k); ok { // an event's removed peer is not planned
			d.ents = append(d.ents, e)
		}
	}
	for i := range d.ents {
		if e := &d.ents[i]; !e.Direct && !d.have.hasNeigh(e.Neigh) {
			d.buf = append(d.buf, Op{Kind: OpSetNeigh, Neigh: e.Neigh, FDB: e.FDB, Route: e.Route})
		}
	}
	for i := range d.ents {
		if e := &d.ents[i]; !e.Direct {
			d.setFDBOf(e)
		}
	}
	for i := range d.ents {
		if e := &d.ents[i]; !d.have.hasRoute(e.Route) {
			d.buf = append(d.buf, Op{Kind: OpReplaceRoute, Route: e.Route, Neigh: e.Neigh, FDB: e.FDB})
		}
	}
	for i := range d.ents {
		d.displaced(&d.ents[i])
	}
}

// setFDBOf sets a peer's FDB entry if the kernel does not hold it, once.
func (d *differ) setFDBOf(e *peerEntries) {
	k := fdbKeyOf(e.FDB)
	if d.have.hasFDB(e.FDB) || d.setFDB[k] {
		return
	}
	d.buf = append(d.buf, Op{Kind: OpSetFDB, FDB: e.FDB, Neigh: e.Neigh, Route: e.Route})
	if wrong := len(d.have.fdbOf(k)) > 0; wrong || d.p.fdb[k].refs > 1 {
		if d.setFDB == nil {
			d.setFDB = map[fdbKey]bool{}
		}
		d.setFDB[k] = true
	}
}

// movedFDB points the FDB entries the kernel holds with another
// destination than planned at the planned one, for MACs none of keys'
// peers uses: a shared MAC whose deciding lease went.
func (d *differ) movedFDB() {
	var fix []dataplane.FDBEntry
	d.have.eachFDBKey(func(e dataplane.FDBEntry, _ []dataplane.FDBEntry) {
		k := fdbKeyOf(e)
		if want, ok := d.p.fdbEntry(k); ok && want != e && !d.setFDB[k] && !d.have.hasFDB(want) {
			fix = append(fix, want)
		}
	})
	slices.SortFunc(fix, compareFDB)
	for _, e := range fix {
		d.buf = append(d.buf, Op{Kind: OpSetFDB, FDB: e})
	}
}

// staleEntries deletes the neighbour and FDB entries nothing plans: other
// destinations of a planned MAC go too once the planned one is in place
// (until then, setting the planned one replaces the entry).
func (d *differ) staleEntries() {
	var neighs []dataplane.Neigh
	for _, n := range d.have.neighs {
		if _, _, ok := d.p.peerByGw(n.LinkIndex, n.IP); !ok {
			neighs = append(neighs, n)
		}
	}
	var fdb []dataplane.FDBEntry
	d.have.eachFDBKey(func(e dataplane.FDBEntry, more []dataplane.FDBEntry) {
		want, ok := d.p.fdbEntry(fdbKeyOf(e))
		if !ok || (e != want && d.have.hasFDB(want)) {
			fdb = append(fdb, e)
		}
		for _, e := range more {
			if !ok || e != want {
				fdb = append(fdb, e)
			}
		}
	})
	slices.SortFunc(neighs, compareNeighs)
	slices.SortFunc(fdb, compareFDB)
	for _, n := range neighs {
		d.buf = append(d.buf, Op{Kind: OpDelNeigh, Neigh: n})
	}
	for _, e := range fdb {
		d.buf = append(d.buf, Op{Kind: OpDelFDB, FDB: e})
	}
}

func compareRoutes(a, b dataplane.Route) int {
	return cmp.Or(comparePrefixes(a.Dst, b.Dst), cmp.Compare(a.Metric, b.Metric), cmp.Compare(a.LinkIndex, b.LinkIndex),
		cmp.Compare(a.Protocol, b.Protocol), a.Gw.Compare(b.Gw))
}

func compareNeighs(a, b dataplane.Neigh) int {
	return cmp.Or(cmp.Compare(a.LinkIndex, b.LinkIndex), a.IP.Compare(b.IP))
}

func compareFDB(a, b dataplane.FDBEntry) int {
	return cmp.Or(cmp.Compare(a.LinkIndex, b.LinkIndex), a.Dst.Compare(b.Dst), slices.Compare(a.MAC[:], b.MAC[:]))
}
