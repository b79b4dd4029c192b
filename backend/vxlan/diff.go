// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/weft-net/weft/backend/dataplane"
)

// OpKind is one dataplane verb.
type OpKind uint8

// Op kinds, in the order Diff emits them.
const (
	OpDelRoute OpKind = iota + 1
	OpSetNeigh
	OpSetFDB
	OpReplaceRoute
	OpDelNeigh
	OpDelFDB
)

// Op is one change to the kernel; only the field matching Kind is set.
type Op struct {
	Kind  OpKind
	Neigh dataplane.Neigh
	FDB   dataplane.FDBEntry
	Route dataplane.Route
	phase int
}

func (o Op) String() string {
	switch o.Kind {
	case OpDelRoute:
		return fmt.Sprintf("del route %s dev %d proto %d", o.Route.Dst, o.Route.LinkIndex, o.Route.Protocol)
	case OpSetNeigh:
		return fmt.Sprintf("set neigh %s lladdr %s dev %d", o.Neigh.IP, o.Neigh.MAC, o.Neigh.LinkIndex)
	case OpSetFDB:
		return fmt.Sprintf("set fdb %s dst %s dev %d", o.FDB.MAC, o.FDB.Dst, o.FDB.LinkIndex)
	case OpReplaceRoute:
		return fmt.Sprintf("replace route %s via %s dev %d", o.Route.Dst, o.Route.Gw, o.Route.LinkIndex)
	case OpDelNeigh:
		return fmt.Sprintf("del neigh %s dev %d", o.Neigh.IP, o.Neigh.LinkIndex)
	case OpDelFDB:
		return fmt.Sprintf("del fdb %s dst %s dev %d", o.FDB.MAC, o.FDB.Dst, o.FDB.LinkIndex)
	}
	return "unknown op"
}

// Diff returns the operations that turn observed into desired, in four
// phases: (1) routes to destinations no longer wanted, so traffic stops
// before its neighbour and FDB entries go; (2) neighbour and FDB entries
// to add or change, so that (3) new or changed routes find the gateway's
// MAC and VTEP already there (the kernel never has to ARP over the
// overlay); (4) stale neighbour and FDB entries, and duplicate routes of
// other owners to wanted destinations, once nothing routes through them. A
// changed MAC is thus make-before-break. Within a phase ops are sorted, so
// the result is deterministic. Diff is pure.
func Diff(desired, observed State) []Op {
	var ops []Op
	for dst, obs := range observed.Routes {
		want, wanted := desired.Routes[dst]
		for _, o := range obs {
			switch {
			case !wanted:
				ops = append(ops, Op{Kind: OpDelRoute, Route: o, phase: 1})
			case o != want[0] && (o.LinkIndex != want[0].LinkIndex || o.Protocol != want[0].Protocol):
				ops = append(ops, Op{Kind: OpDelRoute, Route: o, phase: 4})
			}
		}
	}
	for dst, want := range desired.Routes {
		if !slices.Contains(observed.Routes[dst], want[0]) {
			ops = append(ops, Op{Kind: OpReplaceRoute, Route: want[0], phase: 3})
		}
	}
	for k, n := range desired.Neighs {
		if o, ok := observed.Neighs[k]; !ok || o != n {
			ops = append(ops, Op{Kind: OpSetNeigh, Neigh: n, phase: 2})
		}
	}
	for k, o := range observed.Neighs {
		if _, ok := desired.Neighs[k]; !ok {
			ops = append(ops, Op{Kind: OpDelNeigh, Neigh: o, phase: 4})
		}
	}
	for k, e := range desired.FDB {
		if o, ok := observed.FDB[k]; !ok || o != e {
			ops = append(ops, Op{Kind: OpSetFDB, FDB: e, phase: 2})
		}
	}
	for k, o := range observed.FDB {
		if _, ok := desired.FDB[k]; !ok {
			ops = append(ops, Op{Kind: OpDelFDB, FDB: o, phase: 4})
		}
	}
	return sortOps(ops)
}

// sortOps orders ops by phase, kind and address. It sorts indexes, not the
// large Op values, which keeps sorting thousands of ops cheap.
func sortOps(ops []Op) []Op {
	idx := make([]int32, len(ops))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int { return compareOps(&ops[a], &ops[b]) })
	out := make([]Op, len(ops))
	for i, j := range idx {
		out[i] = ops[j]
	}
	return out
}

func compareOps(a, b *Op) int {
	if c := cmp.Compare(a.phase, b.phase); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
		return c
	}
	switch a.Kind {
	case OpSetNeigh, OpDelNeigh:
		return cmp.Or(cmp.Compare(a.Neigh.LinkIndex, b.Neigh.LinkIndex), a.Neigh.IP.Compare(b.Neigh.IP))
	case OpSetFDB, OpDelFDB:
		return cmp.Or(cmp.Compare(a.FDB.LinkIndex, b.FDB.LinkIndex), a.FDB.Dst.Compare(b.FDB.Dst),
			slices.Compare(a.FDB.MAC[:], b.FDB.MAC[:]))
	}
	return cmp.Or(a.Route.Dst.Addr().Compare(b.Route.Dst.Addr()), cmp.Compare(a.Route.Dst.Bits(), b.Route.Dst.Bits()),
		cmp.Compare(a.Route.LinkIndex, b.Route.LinkIndex), cmp.Compare(a.Route.Protocol, b.Route.Protocol))
}

// maxErrors bounds how many errors one apply reports in full.
const maxErrors = 8

// Apply runs ops in order against dp, recording each success in applied
// (the backend's belief of the kernel state) and calling done for it (if
// set). It goes on after a failure, except that a route is not added when
// its gateway's neighbour or FDB entry failed (the kernel would ARP for
// the gateway over the overlay). It returns how many ops succeeded and the
// joined errors.
func Apply(dp dataplane.Dataplane, ops []Op, applied State, done func(Op)) (int, error) {
	var errs []error
	failed := 0
	badGw := map[NeighKey]bool{}
	badMAC := map[FDBKey]bool{}
	ok := 0
	for _, op := range ops {
		if op.Kind == OpReplaceRoute && op.Route.OnLink && gwFailed(op.Route, applied, badGw, badMAC) {
			failed++
			continue
		}
		err := run(dp, op)
		if err != nil {
			failed++
			if len(errs) < maxErrors {
				errs = append(errs, err)
			}
			switch op.Kind {
			case OpSetNeigh:
				badGw[neighKey(op.Neigh)] = true
			case OpSetFDB:
				badMAC[fdbKey(op.FDB)] = true
			}
			continue
		}
		applied.applied(op)
		if done != nil {
			done(op)
		}
		ok++
	}
	if failed > len(errs) {
		errs = append(errs, fmt.Errorf("%d of %d operations failed", failed, len(ops)))
	}
	return ok, errors.Join(errs...)
}

func gwFailed(r dataplane.Route, applied State, badGw map[NeighKey]bool, badMAC map[FDBKey]bool) bool {
	k := NeighKey{r.LinkIndex, r.Gw}
	if badGw[k] {
		return true
	}
	n, ok := applied.Neighs[k]
	return ok && badMAC[FDBKey{r.LinkIndex, n.MAC}]
}

func run(dp dataplane.Dataplane, op Op) error {
	switch op.Kind {
	case OpDelRoute:
		return dp.DelRoute(op.Route)
	case OpSetNeigh:
		return dp.SetNeigh(op.Neigh)
	case OpSetFDB:
		return dp.SetFDB(op.FDB)
	case OpReplaceRoute:
		return dp.ReplaceRoute(op.Route)
	case OpDelNeigh:
		return dp.DelNeigh(op.Neigh)
	case OpDelFDB:
		return dp.DelFDB(op.FDB)
	}
	return fmt.Errorf("unknown op kind %d", op.Kind)
}
