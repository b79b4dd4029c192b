// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
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
type state struct {
	neighs map[neighKey]dataplane.Neigh
	fdb    map[fdbKey]dataplane.FDBEntry
	// fdbMore are further destinations of a MAC that fdb already holds
	// (`bridge fdb append` adds them; weft never does).
	fdbMore []dataplane.FDBEntry
	routes  map[netip.Prefix][]dataplane.Route // more than one per destination: another owner or metric
	// leftovers are flanneld's DirectRouting routes (`subnet via PublicIP`
	// on the underlay, protocol boot): weft's to replace only for a planned
	// peer whose public IP they route through (as admission sees them),
	// else another owner's.
	leftovers map[netip.Prefix][]dataplane.Route
}

func newState() *state {
	return &state{neighs: map[neighKey]dataplane.Neigh{}, fdb: map[fdbKey]dataplane.FDBEntry{},
		routes: map[netip.Prefix][]dataplane.Route{}}
}

// stateOf keeps of a dump what weft owns and so may change: the neighbour
// and FDB entries on its devices, and the routes it owns (owned).
func stateOf(l Local, t Tables) *state {
	s := newState()
	for _, n := range t.Neighs {
		if isDev(l, n.LinkIndex) {
			s.neighs[neighKeyOf(n)] = n
		}
	}
	for _, e := range t.FDB {
		if !isDev(l, e.LinkIndex) {
			continue
		}
		if _, ok := s.fdb[fdbKeyOf(e)]; ok {
			s.fdbMore = append(s.fdbMore, e)
		} else {
			s.fdb[fdbKeyOf(e)] = e
		}
	}
	for _, r := range t.Routes {
		r.Src = netip.Addr{}
		switch {
		case owned(l, r):
			s.routes[r.Dst] = append(s.routes[r.Dst], r)
		case leftover(l, r):
			if s.leftovers == nil {
				s.leftovers = map[netip.Prefix][]dataplane.Route{}
			}
			s.leftovers[r.Dst] = append(s.leftovers[r.Dst], r)
		}
	}
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

func (s *state) hasFDB(e dataplane.FDBEntry) bool {
	return s.fdb[fdbKeyOf(e)] == e || (len(s.fdbMore) > 0 && slices.Contains(s.fdbMore, e))
}

func (s *state) hasRoute(r dataplane.Route) bool {
	return slices.Contains(s.routes[r.Dst], r)
}
