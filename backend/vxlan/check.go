// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"net/netip"
	"slices"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

// Check compares a node's kernel tables with what the backend programs for
// leases there, through the backend's own planner and differ: it returns
// the operations a full reconcile would apply, in order, and the leases it
// would skip. Entries weft does not own (routes of other protocols,
// entries on other links) are left out, as the backend leaves them alone;
// Shadowed reports the routes among them that win over weft's.
// weftctl doctor reports the operations as findings. Check is pure.
func Check(l Local, leases []subnet.Lease, kernel Tables) ([]Op, []Problem) {
	p, problems := planLeases(l, leases)
	var ops []Op
	for chunk := range diff(p, p.sortedKeys(), stateOf(l, kernel)) {
		ops = append(ops, chunk...)
	}
	return ops, problems
}

// Shadow is a route of another owner that the kernel prefers to weft's
// planned route to the same destination: it has a lower metric.
type Shadow struct {
	Want dataplane.Route // weft's planned route
	By   dataplane.Route // the route that wins
}

// Shadowed returns, sorted by destination, the routes weft does not own
// that shadow its planned routes on a node: with a metric below weft's,
// such a route (say a metric-0 one added by hand on a weft device, which
// weft's own routes at metric 0 once replaced) carries the peer's traffic
// instead of weft's. weft leaves it alone; weftctl doctor reports it.
// Shadowed is pure.
func Shadowed(l Local, leases []subnet.Lease, kernel Tables) []Shadow {
	p, _ := planLeases(l, leases)
	var out []Shadow
	for _, r := range kernel.Routes {
		e, ok := p.want(r.Dst)
		if !ok || r.Metric >= e.Route.Metric || owned(l, r) {
			continue
		}
		if leftover(l, r) && r.Gw == p.peers[r.Dst].public {
			continue // flanneld's direct route: weft deletes it (Check has the op)
		}
		r.Src = netip.Addr{}
		out = append(out, Shadow{Want: e.Route, By: r})
	}
	slices.SortFunc(out, func(a, b Shadow) int { return compareRoutes(a.By, b.By) })
	return out
}
