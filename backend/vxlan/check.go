// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import "github.com/weft-net/weft/subnet"

// Check compares a node's kernel tables with what the backend programs for
// leases there, through the backend's own planner and differ: it returns
// the operations a full reconcile would apply, in order, and the leases it
// would skip. Entries weft does not own (routes of other protocols,
// entries on other links) are left out, as the backend leaves them alone.
// weftctl doctor reports the operations as findings. Check is pure.
func Check(l Local, leases []subnet.Lease, kernel Tables) ([]Op, []Problem) {
	p, problems := planLeases(l, leases)
	var ops []Op
	for chunk := range diff(p, p.sortedKeys(), stateOf(l, kernel)) {
		ops = append(ops, chunk...)
	}
	return ops, problems
}
