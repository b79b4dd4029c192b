// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"net/netip"
	"slices"

	"github.com/weft-net/weft/backend/dataplane"
)

// NeighKey identifies a neighbour entry: the kernel keeps one per link and IP.
type NeighKey struct {
	Link int
	IP   netip.Addr
}

// FDBKey identifies an FDB entry: the kernel keeps one destination per
// unicast MAC and link.
type FDBKey struct {
	Link int
	MAC  [6]byte
}

// State is a set of kernel entries: desired (from Plan) or observed (from
// the dataplane). Routes are keyed by destination; more than one observed
// route per destination can exist (another metric, another owner).
type State struct {
	Neighs map[NeighKey]dataplane.Neigh
	FDB    map[FDBKey]dataplane.FDBEntry
	Routes map[netip.Prefix][]dataplane.Route
}

// NewState returns an empty State.
func NewState() State {
	return State{Neighs: map[NeighKey]dataplane.Neigh{}, FDB: map[FDBKey]dataplane.FDBEntry{},
		Routes: map[netip.Prefix][]dataplane.Route{}}
}

func neighKey(n dataplane.Neigh) NeighKey { return NeighKey{n.LinkIndex, n.IP} }
func fdbKey(e dataplane.FDBEntry) FDBKey  { return FDBKey{e.LinkIndex, e.MAC} }

// addPeer adds a peer's entries (replacing routes to the same destination).
func (s State) addPeer(e PeerEntries) {
	if !e.Direct {
		s.Neighs[neighKey(e.Neigh)] = e.Neigh
		s.FDB[fdbKey(e.FDB)] = e.FDB
	}
	s.Routes[e.Route.Dst] = []dataplane.Route{e.Route}
}

// StateOf flattens planned peers into a State.
func StateOf(peers map[netip.Prefix]PeerEntries) State {
	s := NewState()
	for _, e := range peers {
		s.addPeer(e)
	}
	return s
}

// applied records in s the effect of a successful op.
func (s State) applied(op Op) {
	switch op.Kind {
	case OpSetNeigh:
		s.Neighs[neighKey(op.Neigh)] = op.Neigh
	case OpDelNeigh:
		delete(s.Neighs, neighKey(op.Neigh))
	case OpSetFDB:
		s.FDB[fdbKey(op.FDB)] = op.FDB
	case OpDelFDB:
		delete(s.FDB, fdbKey(op.FDB))
	case OpReplaceRoute:
		rs := slices.DeleteFunc(s.Routes[op.Route.Dst], func(r dataplane.Route) bool {
			return r.LinkIndex == op.Route.LinkIndex && r.Protocol == op.Route.Protocol
		})
		s.Routes[op.Route.Dst] = append(rs, op.Route)
	case OpDelRoute:
		rs := slices.DeleteFunc(s.Routes[op.Route.Dst], func(r dataplane.Route) bool {
			return r.LinkIndex == op.Route.LinkIndex && r.Protocol == op.Route.Protocol
		})
		if len(rs) == 0 {
			delete(s.Routes, op.Route.Dst)
		} else {
			s.Routes[op.Route.Dst] = rs
		}
	}
}
