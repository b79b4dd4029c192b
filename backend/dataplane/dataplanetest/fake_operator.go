// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package dataplanetest

import "github.com/weft-net/weft/backend/dataplane"

// The Remove* methods change the fake as an operator's hand would (`ip
// neigh del`, `bridge fdb del`, `ip route del`): they notify watchers but
// bypass FailOn and Calls, which only see the code under test.

// RemoveNeigh deletes a neighbour entry by hand.
func (f *FakeDataplane) RemoveNeigh(n dataplane.Neigh) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removeNeigh(n)
}

// RemoveFDB deletes an FDB entry by hand.
func (f *FakeDataplane) RemoveFDB(e dataplane.FDBEntry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removeFDB(e)
}

// RemoveRoute deletes a route by hand.
func (f *FakeDataplane) RemoveRoute(r dataplane.Route) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removeRoute(r)
}

// String is the canonical dump of the fake (see Snapshot).
func (f *FakeDataplane) String() string {
	s, err := Snapshot(f)
	if err != nil {
		return "error: " + err.Error()
	}
	return s
}
