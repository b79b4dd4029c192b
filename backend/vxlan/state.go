// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/weft-net/weft/backend/dataplane"
)

// neighKey identifies a neighbour entry: the kernel keeps one per link and IP.
type neighKey struct {
	Link int
	IP   netip.Addr
}

// fdbKey identifies an FDB entry: weft writes one destination per unicast
// MAC and link.
type fdbKey struct {
	Link int
	MAC  [6]byte
}

func neighKeyOf(n dataplane.Neigh) neighKey { return neighKey{n.LinkIndex, n.IP} }
func fdbKeyOf(e dataplane.FDBEntry) fdbKey  { return fdbKey{e.LinkIndex, e.MAC} }

// Tables are kernel entries as the dataplane lists them: the neighbour
// and FDB entries of the VXLAN devices and the main table's routes.
type Tables struct {
	Neighs []dataplane.Neigh
	FDB    []dataplane.FDBEntry
	Routes []dataplane.Route
}

// state is the kernel side of a diff: what the kernel holds of the
// entries weft owns (from a dump), or what the backend believes it holds
// of some peers' entries (between dumps).
//
// The entries are kept in sorted slices, looked up by binary search: a
// full reconcile holds the state of every peer next to the plan and the
// admitter's leases, at weftd's peak memory, and maps cost two to three
// times the entries (10,000 peers: 4.2 MB of maps against 1.8 MB of
// slices, which are the dump's own arrays). Add entries with the add
// methods, then call index before any lookup.
type state struct {
	neighs []dataplane.Neigh // sorted by compareNeighs; the kernel keeps one per link and IP
	// fdb is sorted by link and MAC, in dump order within a MAC: a MAC's
	// first entry is the one `bridge fdb replace` changes, the others are
	// further destinations (`bridge fdb append` adds them; weft never does).
	fdb    []dataplane.FDBEntry
	routes []dataplane.Route // sorted by compareRoutes (destination first); another owner's or metric too
	// leftovers are flanneld's DirectRouting routes (`subnet via PublicIP`
	// on the underlay, protocol boot): weft's to replace only for a planned
	// peer whose public IP they route through (as admission sees them),
	// else another owner's.
	leftovers map[netip.Prefix][]dataplane.Route
}

func newState() *state { return &state{} }

func (s *state) addNeigh(n dataplane.Neigh)  { s.neighs = append(s.neighs, n) }
func (s *state) addFDB(e dataplane.FDBEntry) { s.fdb = append(s.fdb, e) }
func (s *state) addRoute(r dataplane.Route)  { s.routes = append(s.routes, r) }
func compareFDBKeys(a, b dataplane.FDBEntry) int {
	return cmp.Or(cmp.Compare(a.LinkIndex, b.LinkIndex), slices.Compare(a.MAC[:], b.MAC[:]))
}

// index sorts what the add methods added, for the lookups.
func (s *state) index() {
	slices.SortFunc(s.neighs, compareNeighs)
	slices.SortStableFunc(s.fdb, compareFDBKeys)
	slices.SortFunc(s.routes, compareRoutes)
	// Peers sharing a VTEP MAC add its entry once each.
	s.neighs, s.fdb, s.routes = slices.Compact(s.neighs), slices.Compact(s.fdb), slices.Compact(s.routes)
}

// stateOf keeps of a dump what weft owns and so may change: the neighbour
// and FDB entries on its devices, and the routes it owns (owned). The
// dump's slices are left as they were.
func stateOf(l Local, t Tables) *state {
	return stateFrom(l, Tables{Neighs: slices.Clone(t.Neighs), FDB: slices.Clone(t.FDB), Routes: slices.Clone(t.Routes)})
}

// stateFrom is stateOf for a caller that is done with the dump: it keeps
// what it needs in the dump's own arrays.
func stateFrom(l Local, t Tables) *state {
	s := newState()
	s.neighs = slices.DeleteFunc(t.Neighs, func(n dataplane.Neigh) bool { return !isDev(l, n.LinkIndex) })
	s.fdb = slices.DeleteFunc(t.FDB, func(e dataplane.FDBEntry) bool { return !isDev(l, e.LinkIndex) })
	s.routes = slices.DeleteFunc(t.Routes, func(r dataplane.Route) bool {
		if leftover(l, r) && !owned(l, r) {
			if s.leftovers == nil {
				s.leftovers = map[netip.Prefix][]dataplane.Route{}
			}
			r.Src = netip.Addr{}
			s.leftovers[r.Dst] = append(s.leftovers[r.Dst], r)
		}
		return !owned(l, r)
	})
	for i := range s.routes {
		s.routes[i].Src = netip.Addr{}
	}
	s.index()
	return s
}

// leftover reports a route that may be flanneld's DirectRouting route to a
// peer: on the underlay, via a gateway, protocol boot.
func leftover(l Local, r dataplane.Route) bool {
	return l.Underlay != 0 && r.LinkIndex == l.Underlay && r.Protocol == dataplane.RTProtoBoot && r.Gw.IsValid()
}

// owned reports whether a route is weft's to change: it carries
// RouteProtocol, or it is on a weft device with the default protocol
// (flanneld's, adopted on a node switched from it).
func owned(l Local, r dataplane.Route) bool {
	return r.Protocol == RouteProtocol || (isDev(l, r.LinkIndex) && r.Protocol == dataplane.RTProtoBoot)
}

func isDev(l Local, index int) bool {
	return index != 0 && (index == l.Dev4 || index == l.Dev6)
}

// neigh returns the neighbour entry held for k.
func (s *state) neigh(k neighKey) (dataplane.Neigh, bool) {
	i, ok := slices.BinarySearchFunc(s.neighs, k, func(n dataplane.Neigh, k neighKey) int {
		return cmp.Or(cmp.Compare(n.LinkIndex, k.Link), n.IP.Compare(k.IP))
	})
	if !ok {
		return dataplane.Neigh{}, false
	}
	return s.neighs[i], true
}

func (s *state) hasNeigh(n dataplane.Neigh) bool {
	got, ok := s.neigh(neighKeyOf(n))
	return ok && got == n
}

// fdbOf returns the entries held for a MAC on a link, the first one first.
func (s *state) fdbOf(k fdbKey) []dataplane.FDBEntry {
	probe := dataplane.FDBEntry{LinkIndex: k.Link, MAC: k.MAC}
	i, _ := slices.BinarySearchFunc(s.fdb, probe, compareFDBKeys)
	j := i
	for j < len(s.fdb) && compareFDBKeys(s.fdb[j], probe) == 0 {
		j++
	}
	return s.fdb[i:j]
}

func (s *state) hasFDB(e dataplane.FDBEntry) bool {
	return slices.Contains(s.fdbOf(fdbKeyOf(e)), e)
}

// eachFDBKey calls f with the entries of each MAC held, the first one first.
func (s *state) eachFDBKey(f func(first dataplane.FDBEntry, more []dataplane.FDBEntry)) {
	for i := 0; i < len(s.fdb); {
		j := i + 1
		for j < len(s.fdb) && compareFDBKeys(s.fdb[j], s.fdb[i]) == 0 {
			j++
		}
		f(s.fdb[i], s.fdb[i+1:j])
		i = j
	}
}

// routesTo returns the routes held to dst.
func (s *state) routesTo(dst netip.Prefix) []dataplane.Route {
	i, _ := slices.BinarySearchFunc(s.routes, dst, func(r dataplane.Route, dst netip.Prefix) int { return comparePrefixes(r.Dst, dst) })
	j := i
	for j < len(s.routes) && s.routes[j].Dst == dst {
		j++
	}
	return s.routes[i:j]
}

func (s *state) hasRoute(r dataplane.Route) bool {
	return slices.Contains(s.routesTo(r.Dst), r)
}
