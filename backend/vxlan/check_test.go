// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

// TestCheck: Check reports, against a dump, the operations a full
// reconcile would apply, in the differ's order, and leaves alone what
// weft does not own (a foreign route, an entry on another link).
func TestCheck(t *testing.T) {
	p2, p3, p4 := lease(2, "198.18.0.2", false), lease(3, "198.18.0.3", false), lease(4, "198.18.0.4", false)
	kernel := Tables{
		Neighs: []dataplane.Neigh{
			{LinkIndex: 10, IP: netip.MustParseAddr("10.244.2.0"), MAC: mustMAC(t, mac(2))},
			{LinkIndex: 10, IP: netip.MustParseAddr("10.244.3.0"), MAC: mustMAC(t, mac(0x99))},  // wrong MAC
			{LinkIndex: 10, IP: netip.MustParseAddr("10.244.9.0"), MAC: mustMAC(t, mac(9))},     // no lease
			{LinkIndex: 2, IP: netip.MustParseAddr("198.18.0.254"), MAC: mustMAC(t, mac(0xfe))}, // underlay: not ours
		},
		FDB: []dataplane.FDBEntry{
			{LinkIndex: 10, MAC: mustMAC(t, mac(2)), Dst: netip.MustParseAddr("198.18.0.2")},
			{LinkIndex: 10, MAC: mustMAC(t, mac(3)), Dst: netip.MustParseAddr("198.18.0.3")},
			{LinkIndex: 10, MAC: mustMAC(t, mac(9)), Dst: netip.MustParseAddr("198.18.0.9")},
		},
		Routes: []dataplane.Route{
			{Dst: netip.MustParsePrefix("10.244.2.0/24"), Gw: netip.MustParseAddr("10.244.2.0"), LinkIndex: 10, OnLink: true, Protocol: RouteProtocol,
				Metric: RouteMetric(netip.MustParsePrefix("10.244.2.0/24"))},
			{Dst: netip.MustParsePrefix("10.244.3.0/24"), Gw: netip.MustParseAddr("10.244.3.0"), LinkIndex: 10, OnLink: true, Protocol: RouteProtocol,
				Metric: RouteMetric(netip.MustParsePrefix("10.244.3.0/24"))},
			{Dst: netip.MustParsePrefix("10.244.9.0/24"), Gw: netip.MustParseAddr("10.244.9.0"), LinkIndex: 10, OnLink: true, Protocol: dataplane.RTProtoBoot},
			{Dst: netip.MustParsePrefix("10.99.0.0/16"), Gw: netip.MustParseAddr("198.18.0.254"), LinkIndex: 2, Protocol: 4},
		},
	}
	bad := lease(5, "198.18.0.5", false)
	bad.Attrs.BackendData = []byte(`{"VNI":1}`)
	ops, problems := Check(local, []subnet.Lease{p2, p3, p4, bad, lease(1, "198.18.0.1", false)}, kernel)
	want := []string{
		"del route 10.244.9.0/24 dev 10 proto 3",
		"set neigh 10.244.3.0 lladdr 02:00:00:00:00:03 dev 10",
		"set neigh 10.244.4.0 lladdr 02:00:00:00:00:04 dev 10",
		"set fdb 02:00:00:00:00:04 dst 198.18.0.4 dev 10",
		"replace route 10.244.4.0/24 via 10.244.4.0 dev 10 metric 183763968",
		"del neigh 10.244.9.0 dev 10",
		"del fdb 02:00:00:00:00:09 dst 198.18.0.9 dev 10",
	}
	if d := cmp.Diff(want, opStrings(ops)); d != "" {
		t.Errorf("ops (-want +got):\n%s", d)
	}
	if len(problems) != 1 || problems[0].Subnet != bad.Subnet {
		t.Errorf("problems %v, want one for %s", problems, bad.Subnet)
	}
	// The adds of peer 4 carry its other entries: the route its gateway's
	// (for the applier), the neighbour and FDB entry the peer (for doctor).
	sn4, public4, mac4 := p4.Subnet, p4.Attrs.PublicIP, mustMAC(t, mac(4))
	for _, op := range ops[2:5] {
		if op.Route.Dst != sn4 || op.Neigh.MAC != mac4 || op.FDB.MAC != mac4 || op.FDB.Dst != public4 {
			t.Errorf("%s carries %+v %+v %+v, want peer %s's entries", op, op.Neigh, op.FDB, op.Route, sn4)
		}
	}
}

// TestDiffChunks: onto an empty kernel, the differ yields one chunk per
// chunkPeers peers, each with its peers' neighbour entries, then their FDB
// entries, then their routes; stopping early stops it.
func TestDiffChunks(t *testing.T) {
	p, _ := planLeases(local, manyPeers(2*chunkPeers+10))
	var sizes []int
	for ops := range diff(p, p.sortedKeys(), newState()) {
		sizes = append(sizes, len(ops))
		n := len(ops) / 3
		for i, op := range ops {
			if want := []OpKind{OpSetNeigh, OpSetFDB, OpReplaceRoute}[i/n]; op.Kind != want {
				t.Fatalf("chunk %d op %d is %s, want kind %d", len(sizes), i, op, want)
			}
			if op.Route.Dst != ops[i%n].Route.Dst {
				t.Fatalf("chunk %d op %d is for %s, want the same peers in each part (%s)", len(sizes), i, op.Route.Dst, ops[i%n].Route.Dst)
			}
		}
	}
	if d := cmp.Diff([]int{3 * chunkPeers, 3 * chunkPeers, 30}, sizes); d != "" {
		t.Errorf("chunk sizes (-want +got):\n%s", d)
	}
	chunks := 0
	for range diff(p, p.sortedKeys(), newState()) {
		chunks++
		break
	}
	if chunks != 1 {
		t.Errorf("a stopped diff yielded %d chunks", chunks)
	}
}

func mustMAC(t *testing.T, s string) subnet.MAC {
	t.Helper()
	m, err := subnet.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
