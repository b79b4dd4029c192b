// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/weft-net/weft/backend/dataplane"
)

// maxErrors bounds how many errors one apply reports in full.
const maxErrors = 8

// applier is weft's one applier: it runs a diff's operations, chunk by
// chunk, against the dataplane and calls done for each success. It goes on
// after a failure, except that it does not add a route whose gateway's
// neighbour or FDB entry failed earlier in the same run (the kernel would
// ARP for the gateway over the overlay), nor delete a route to a
// destination whose new route was not added in the same run (the old one,
// an older form, still carries the traffic).
type applier struct {
	dp   dataplane.Dataplane
	done func(Op)

	ops, ok, failed int
	errs            []error
	badNeigh        map[neighKey]bool
	badFDB          map[fdbKey]bool
	badRoute        map[netip.Prefix]bool
}

func newApplier(dp dataplane.Dataplane, done func(Op)) *applier {
	return &applier{dp: dp, done: done}
}

// apply runs one chunk of operations, in order.
func (a *applier) apply(ops []Op) {
	for _, op := range ops {
		a.ops++
		if (op.Kind == OpReplaceRoute && a.gatewayFailed(op)) || (op.Kind == OpDelRoute && a.badRoute[op.Route.Dst]) {
			a.failed++
			a.entryFailed(op)
			continue
		}
		if err := run(a.dp, op); err != nil {
			a.failed++
			if len(a.errs) < maxErrors {
				a.errs = append(a.errs, err)
			}
			a.entryFailed(op)
			continue
		}
		a.ok++
		if a.done != nil {
			a.done(op)
		}
	}
}

// entryFailed remembers a neighbour or FDB entry that failed, for the
// routes through it, and a route that was not added, for the older routes
// to its destination.
func (a *applier) entryFailed(op Op) {
	switch op.Kind {
	case OpReplaceRoute:
		if a.badRoute == nil {
			a.badRoute = map[netip.Prefix]bool{}
		}
		a.badRoute[op.Route.Dst] = true
	case OpSetNeigh:
		if a.badNeigh == nil {
			a.badNeigh = map[neighKey]bool{}
		}
		a.badNeigh[neighKeyOf(op.Neigh)] = true
	case OpSetFDB:
		if a.badFDB == nil {
			a.badFDB = map[fdbKey]bool{}
		}
		a.badFDB[fdbKeyOf(op.FDB)] = true
	}
}

// gatewayFailed reports whether the gateway entries an onlink route needs
// (carried in its Op) failed to be set in this run.
func (a *applier) gatewayFailed(op Op) bool {
	if !op.Route.OnLink || !op.Neigh.IP.IsValid() {
		return false
	}
	return a.badNeigh[neighKeyOf(op.Neigh)] || a.badFDB[fdbKeyOf(op.FDB)]
}

// err joins the errors of the run (the first maxErrors, and a count).
func (a *applier) err() error {
	errs := a.errs
	if a.failed > len(errs) {
		errs = append(errs, fmt.Errorf("%d of %d operations failed", a.failed, a.ops))
	}
	return errors.Join(errs...)
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
