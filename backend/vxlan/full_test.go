// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-net/weft/backend/dataplane/dataplanetest"
	"github.com/weft-net/weft/subnet"
)

// TestColdStartOrder: a full reconcile of more peers than one chunk sets
// each peer's neighbour and FDB entry before its route, and touches every
// entry once; restarted on the converged node, a backend whose Run starts
// before its first SetPeers makes no change at all.
func TestColdStartOrder(t *testing.T) {
	e := newFakeEnv(t)
	f := e.dp.(*dataplanetest.FakeDataplane)
	peers := manyPeers(2*chunkPeers + 10)
	own := lease(1, "198.18.0.1", false)
	var programmed atomic.Int32
	n := startNode(t, e, subnet.BackendConfig{}, Options{
		OnPeerProgrammed: func(time.Duration) { programmed.Add(1) }}, own)
	n.b.SetPeers(peers)
	waitSnapshot(t, e, expectPeers(peers))
	waitFor(t, "peers programmed", func() bool { return n.b.Status().Peers == len(peers) })
	if got := programmed.Load(); got != int32(len(peers)) {
		t.Errorf("OnPeerProgrammed called %d times, want once per peer (%d)", got, len(peers))
	}
	seen := map[string]int{} // per gateway: 1 neighbour, 2 FDB entry, 4 route
	entries := 0
	for _, c := range f.Calls() {
		switch {
		case strings.HasPrefix(c, "set neigh "):
			seen[strings.Fields(c)[2]] |= 1
		case strings.HasPrefix(c, "set fdb "):
			seen[gwOfMAC(t, peers, strings.Fields(c)[2])] |= 2
		case strings.HasPrefix(c, "replace route "):
			gw := strings.Fields(c)[4]
			if seen[gw] != 3 {
				t.Fatalf("%q before the neighbour and FDB entry of its gateway", c)
			}
			seen[gw] |= 4
		default:
			continue // the device
		}
		entries++
	}
	if entries != 3*len(peers) {
		t.Errorf("%d entry calls for %d peers, want 3 per peer", entries, len(peers))
	}
	n.stop(t)

	f.ResetCalls()
	again := startNode(t, e, subnet.BackendConfig{}, Options{}, own)
	waitFor(t, "devices ready", func() bool { return again.b.Status().Ready })
	again.b.SetPeers(peers)
	waitFor(t, "peers programmed", func() bool { return again.b.Status().Peers == len(peers) })
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("restart on a converged node (Run before SetPeers) made %d changes: %v", len(calls), calls[:min(len(calls), 5)])
	}
}

func gwOfMAC(t *testing.T, peers []subnet.Lease, m string) string {
	t.Helper()
	for _, p := range peers {
		if strings.Contains(string(p.Attrs.BackendData), m) {
			return p.Subnet.Addr().String()
		}
	}
	t.Fatalf("no peer with MAC %s", m)
	return ""
}

// TestFullReconcileCarriesEvents: with resyncs every few milliseconds,
// lease events land in full reconciles, which update the plan with them
// instead of planning every peer again; the kernel must still end up with
// exactly the final peer set.
func TestFullReconcileCarriesEvents(t *testing.T) {
	e := newFakeEnv(t)
	peers := manyPeers(40)
	n := startNode(t, e, subnet.BackendConfig{}, Options{ResyncInterval: 5 * time.Millisecond},
		lease(1, "198.18.0.1", false))
	n.b.SetPeers(peers)
	waitSnapshot(t, e, expectPeers(peers))
	want := map[string]subnet.Lease{}
	for _, p := range peers {
		want[p.Key()] = p
	}
	more := manyPeers(60)[40:]
	for i := range 20 {
		gone := peers[i]
		moved := peers[20+i]
		moved.Attrs.BackendData = vxlanData(mac(500 + i))
		n.b.ApplyEvents([]subnet.Event{subnet.RemovedEvent(gone), {Type: subnet.EventAdded, Lease: moved},
			{Type: subnet.EventAdded, Lease: more[i]}})
		delete(want, gone.Key())
		want[moved.Key()], want[more[i].Key()] = moved, more[i]
		time.Sleep(3 * time.Millisecond)
	}
	final := make([]subnet.Lease, 0, len(want))
	for _, l := range want {
		final = append(final, l)
	}
	waitSnapshot(t, e, expectPeers(final))
}
