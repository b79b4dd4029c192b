// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/backend/dataplane/netlinkdp"
)

// TestDumpSizedFromTable: a dump's result is allocated once at about the
// size the table will have, from the last dump of it and the entries
// added since through the Dataplane, not grown by doubling (at 10,000
// peers the arrays a full reconcile's dumps left behind were weftd's
// largest objects, at its peak). Checked on the capacity of the results:
// grown by append, they would have up to twice their length.
func TestDumpSizedFromTable(t *testing.T) {
	const n = 2000
	h, _ := newHarnessNS(t)
	dp := h.DP.(*netlinkdp.Dataplane)
	vx, err := dp.CreateVXLAN(vxlanSpec(h))
	if err != nil {
		t.Fatal(err)
	}
	// What weftd does: look at the tables, program the peers, look again.
	if _, err := dp.Routes(dataplane.IPv4); err != nil {
		t.Fatal(err)
	}
	if _, err := dp.Neighs(vx.Index); err != nil {
		t.Fatal(err)
	}
	if _, err := dp.FDB(vx.Index); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		gw := netip.AddrFrom4([4]byte{10, 244, byte(i >> 8), byte(i)})
		mac := [6]byte{2, 0, 0, 0, byte(i >> 8), byte(i)}
		err := errors.Join(
			dp.SetNeigh(dataplane.Neigh{LinkIndex: vx.Index, IP: gw, MAC: mac}),
			dp.SetFDB(dataplane.FDBEntry{LinkIndex: vx.Index, MAC: mac, Dst: netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})}),
			dp.ReplaceRoute(dataplane.Route{Dst: netip.PrefixFrom(gw, 32), Gw: gw, LinkIndex: vx.Index, OnLink: true, Protocol: 87}))
		if err != nil {
			t.Fatal(err)
		}
	}
	for round := range 2 {
		neighs, err := dp.Neighs(vx.Index)
		if err != nil {
			t.Fatal(err)
		}
		fdb, err := dp.FDB(vx.Index)
		if err != nil {
			t.Fatal(err)
		}
		routes, err := dp.Routes(dataplane.IPv4)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []struct {
			what     string
			len, cap int
		}{{"neighbours", len(neighs), cap(neighs)}, {"fdb", len(fdb), cap(fdb)}, {"routes", len(routes), cap(routes)}} {
			if r.len < n || r.cap > r.len+r.len/16 {
				t.Errorf("dump %d of the %s: %d entries in an array of %d, want at least %d in at most %d",
					round, r.what, r.len, r.cap, n, r.len+r.len/16)
			}
		}
	}
}
