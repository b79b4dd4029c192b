// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/backend/dataplane/dataplanetest"
	"github.com/weft-net/weft/subnet"
)

func TestManyPeersExactlyMatch(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		peers := manyPeers(300)
		n := startNode(t, e, subnet.BackendConfig{}, Options{}, lease(1, "198.18.0.1", false))
		n.b.SetPeers(peers)
		waitSnapshot(t, e, expectPeers(peers))
		waitFor(t, "300 peers programmed", func() bool { return n.b.Status().Peers == 300 })
		// Removing every other peer leaves exactly the rest.
		var evs []subnet.Event
		for i, p := range peers {
			if i%2 == 0 {
				evs = append(evs, subnet.Event{Type: subnet.EventRemoved, Lease: p})
			}
		}
		n.b.ApplyEvents(evs)
		var rest []subnet.Lease
		for i, p := range peers {
			if i%2 == 1 {
				rest = append(rest, p)
			}
		}
		waitSnapshot(t, e, expectPeers(rest))
	})
}

// TestPeerChanges: removal, a changed VTEP MAC and public IP, an addition,
// all through the cheap path, leave no stale entry.
func TestPeerChanges(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		p2, p3 := lease(2, "198.18.0.2", false), lease(3, "198.18.0.3", false)
		n := startNode(t, e, subnet.BackendConfig{}, Options{}, lease(1, "198.18.0.1", false))
		n.b.SetPeers([]subnet.Lease{p2, p3})
		waitSnapshot(t, e, expectPeers([]subnet.Lease{p2, p3}))
		moved := p2
		moved.Attrs.PublicIP = netip.MustParseAddr("198.18.0.22")
		moved.Attrs.BackendData = vxlanData(mac(0x22))
		p4 := lease(4, "198.18.0.4", false)
		n.b.ApplyEvents([]subnet.Event{
			{Type: subnet.EventRemoved, Lease: subnet.Lease{Subnet: p3.Subnet}},
			{Type: subnet.EventAdded, Lease: moved},
			{Type: subnet.EventAdded, Lease: p4},
		})
		waitSnapshot(t, e, expectPeers([]subnet.Lease{moved, p4}))
	})
}

// TestEventOrdering checks the kernel sees neighbour and FDB entries before
// the route on add, the route first on removal, and a MAC change
// make-before-break.
func TestEventOrdering(t *testing.T) {
	e := newFakeEnv(t)
	f := e.dp.(*dataplanetest.FakeDataplane)
	p2, p3 := lease(2, "198.18.0.2", false), lease(3, "198.18.0.3", false)
	n := startNode(t, e, subnet.BackendConfig{}, Options{}, lease(1, "198.18.0.1", false))
	n.b.SetPeers([]subnet.Lease{p2, p3})
	waitSnapshot(t, e, expectPeers([]subnet.Lease{p2, p3}))
	steps := []struct {
		ev   subnet.Event
		want []string
	}{
		{subnet.Event{Type: subnet.EventAdded, Lease: lease(4, "198.18.0.4", false)}, []string{
			"set neigh 10.244.4.0 lladdr 02:00:00:00:00:04 dev flannel.1",
			"set fdb 02:00:00:00:00:04 dst 198.18.0.4 dev flannel.1",
			"replace route 10.244.4.0/24 via 10.244.4.0 dev flannel.1 onlink proto 87 metric 183763968"}},
		{subnet.Event{Type: subnet.EventRemoved, Lease: p3}, []string{
			"delete route 10.244.3.0/24 dev flannel.1 metric 183763712",
			"delete neigh 10.244.3.0 dev flannel.1",
			"delete fdb 02:00:00:00:00:03 dst 198.18.0.3 dev flannel.1"}},
		{subnet.Event{Type: subnet.EventAdded, Lease: func() subnet.Lease {
			l := p2
			l.Attrs.BackendData = vxlanData(mac(0x99))
			return l
		}()}, []string{
			"set neigh 10.244.2.0 lladdr 02:00:00:00:00:99 dev flannel.1",
			"set fdb 02:00:00:00:00:99 dst 198.18.0.2 dev flannel.1",
			"delete fdb 02:00:00:00:00:02 dst 198.18.0.2 dev flannel.1"}},
		{subnet.Event{Type: subnet.EventAdded, Lease: lease(4, "198.18.0.4", false)}, nil}, // unchanged: nothing
	}
	for _, s := range steps {
		f.ResetCalls()
		n.b.ApplyEvents([]subnet.Event{s.ev})
		if len(s.want) == 0 {
			time.Sleep(50 * time.Millisecond)
		} else {
			waitFor(t, "calls", func() bool { return len(f.Calls()) >= len(s.want) })
		}
		if d := cmp.Diff(s.want, f.Calls()); d != "" {
			t.Errorf("%s %s: calls (-want +got):\n%s", s.ev.Type, s.ev.Lease.Subnet, d)
		}
	}
}

// TestRestartCleanup: a restarted backend removes what an earlier run
// programmed for peers that are gone (and flanneld's leftovers on its
// device), keeps foreign routes, and on a converged node changes nothing.
func TestRestartCleanup(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		own := lease(1, "198.18.0.1", false)
		p2, p3, p4 := lease(2, "198.18.0.2", false), lease(3, "198.18.0.3", false), lease(4, "198.18.0.4", false)
		first := startNode(t, e, subnet.BackendConfig{}, Options{}, own)
		first.b.SetPeers([]subnet.Lease{p2, p3, p4})
		waitSnapshot(t, e, expectPeers([]subnet.Lease{p2, p3, p4}))
		first.stop(t)
		dev, err := e.dp.LinkByName("flannel.1")
		mustT(t, err)
		foreign := dataplane.Route{Dst: netip.MustParsePrefix("10.99.0.0/16"), Gw: netip.MustParseAddr("198.18.0.254"),
			LinkIndex: e.ext.Index, Protocol: 4}
		leftover := dataplane.Route{Dst: netip.MustParsePrefix("10.244.9.0/24"), Gw: netip.MustParseAddr("10.244.9.0"),
			LinkIndex: dev.Index, OnLink: true, Protocol: dataplane.RTProtoBoot}
		mustT(t, e.dp.ReplaceRoute(foreign))
		mustT(t, e.dp.ReplaceRoute(leftover))
		mustT(t, e.dp.SetNeigh(dataplane.Neigh{LinkIndex: dev.Index, IP: leftover.Gw, MAC: subnet.MAC{2, 9}}))

		second := startNode(t, e, subnet.BackendConfig{}, Options{}, own)
		second.b.SetPeers([]subnet.Lease{p2})
		waitSnapshot(t, e, expectPeers([]subnet.Lease{p2})+"route 10.99.0.0/16 via 198.18.0.254 dev eth0 proto 4\n")
		waitFor(t, "reconciled", func() bool { return second.b.Status().Ready })
		second.stop(t)

		f, ok := e.dp.(*dataplanetest.FakeDataplane)
		if !ok {
			return
		}
		f.ResetCalls()
		third := startNode(t, e, subnet.BackendConfig{}, Options{}, own)
		third.b.SetPeers([]subnet.Lease{p2})
		waitFor(t, "reconciled", func() bool { return third.b.Status().Ready && third.b.Status().Peers == 1 })
		if calls := f.Calls(); len(calls) != 0 {
			t.Errorf("restart on a converged node made changes: %v", calls)
		}
	})
}

// waitSubscribed waits until the backend's Watch is subscribed on the fake:
// Run subscribes in a goroutine of its own, and a change made before would
// go unnoticed until a resync. The kernel has no such hook.
func waitSubscribed(t *testing.T, e *env) {
	t.Helper()
	if f, ok := e.dp.(*dataplanetest.FakeDataplane); ok {
		waitFor(t, "subscribed to notifications", func() bool { return f.Watching() > 0 })
	}
}

func mustT(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestRepair: entries and the device deleted by hand, and the underlay
// re-created with a new index, are restored.
func TestRepair(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		p2, p3 := lease(2, "198.18.0.2", false), lease(3, "198.18.0.3", false)
		want := expectPeers([]subnet.Lease{p2, p3})
		n := startNode(t, e, subnet.BackendConfig{}, Options{}, lease(1, "198.18.0.1", false))
		n.b.SetPeers([]subnet.Lease{p2, p3})
		waitSnapshot(t, e, want)
		waitSubscribed(t, e)
		steps := []struct {
			name string
			do   func()
		}{
			{"neighbour", func() { e.hand.delNeigh(t, "flannel.1", "10.244.2.0") }},
			{"fdb", func() { e.hand.delFDB(t, "flannel.1", mac(3), "198.18.0.3") }},
			{"route", func() { e.hand.delRoute(t, "10.244.3.0/24") }},
			{"device", func() { e.hand.delLink(t, "flannel.1") }},
			{"underlay re-created", func() { e.hand.recreateUnderlay(t) }},
		}
		for _, s := range steps {
			before := n.b.Status().Repairs
			s.do()
			waitSnapshot(t, e, want)
			waitFor(t, s.name+" repair counted", func() bool { return n.b.Status().Repairs > before })
		}
	})
}

// TestPartialFailure: one failing entry does not stop the others, its
// route is held back, and a retry completes the set.
func TestPartialFailure(t *testing.T) {
	e := newFakeEnv(t)
	f := e.dp.(*dataplanetest.FakeDataplane)
	var failing atomic.Bool
	failing.Store(true)
	f.FailOn(func(call string) error {
		if failing.Load() && strings.HasPrefix(call, "set neigh 10.244.3.0") {
			return errors.New("injected failure")
		}
		return nil
	})
	var reconciles atomic.Int32
	p2, p3 := lease(2, "198.18.0.2", false), lease(3, "198.18.0.3", false)
	n := startNode(t, e, subnet.BackendConfig{}, Options{RetryInterval: time.Hour,
		OnReconcile: func(time.Duration, int, error) { reconciles.Add(1) }}, lease(1, "198.18.0.1", false))
	n.b.SetPeers([]subnet.Lease{p2, p3})
	// Run may reconcile once before SetPeers lands (devices only): wait for
	// the reconcile that planned both peers.
	waitFor(t, "reconcile of the peer set", func() bool { return reconciles.Load() >= 1 && n.b.Status().Desired == 2 })
	st := n.b.Status()
	if st.LastError == nil || st.Ready || st.Peers != 1 || st.Desired != 2 {
		t.Errorf("status after a partial failure = %+v, want an error, not ready, 1 of 2 peers", st)
	}
	if strings.Contains(f.String(), "route 10.244.3.0/24") {
		t.Errorf("route added although its neighbour failed:\n%s", f)
	}
	failing.Store(false)
	n.b.SetPeers([]subnet.Lease{p2, p3}) // any trigger retries
	waitSnapshot(t, e, expectPeers([]subnet.Lease{p2, p3}))
	waitFor(t, "ready", func() bool { st := n.b.Status(); return st.Ready && st.Peers == 2 && st.LastError == nil })
}

// TestResync: a lost notification (netlink ENOBUFS) and the periodic
// timer both lead to a full reconcile.
func TestResync(t *testing.T) {
	e := newFakeEnv(t)
	f := e.dp.(*dataplanetest.FakeDataplane)
	var reconciles atomic.Int32
	n := startNode(t, e, subnet.BackendConfig{}, Options{
		OnReconcile: func(time.Duration, int, error) { reconciles.Add(1) }}, lease(1, "198.18.0.1", false))
	n.b.SetPeers([]subnet.Lease{lease(2, "198.18.0.2", false)})
	waitFor(t, "first reconcile", func() bool { return reconciles.Load() >= 1 })
	base := reconciles.Load()
	waitFor(t, "subscribed", func() bool { return f.Watching() > 0 })
	f.Overrun()
	waitFor(t, "resync after overrun", func() bool { return reconciles.Load() > base })
	n.stop(t)

	reconciles.Store(0)
	startNode(t, e, subnet.BackendConfig{}, Options{ResyncInterval: 20 * time.Millisecond,
		OnReconcile: func(time.Duration, int, error) { reconciles.Add(1) }}, lease(1, "198.18.0.1", false))
	waitFor(t, "periodic resyncs", func() bool { return reconciles.Load() >= 3 })
}

// TestTeardown removes the device and weft's direct routes, nothing else.
func TestTeardown(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		n := startNode(t, e, subnet.BackendConfig{DirectRouting: true}, Options{}, lease(1, "198.18.0.1", false))
		n.b.SetPeers([]subnet.Lease{lease(2, "198.18.0.2", false), lease(3, "203.0.113.3", false)})
		waitFor(t, "peers", func() bool { return n.b.Status().Peers == 2 })
		foreign := dataplane.Route{Dst: netip.MustParsePrefix("10.99.0.0/16"), Gw: netip.MustParseAddr("198.18.0.254"),
			LinkIndex: e.ext.Index, Protocol: 4}
		mustT(t, e.dp.ReplaceRoute(foreign))
		n.stop(t)
		mustT(t, n.b.Teardown())
		got, err := dataplanetest.Snapshot(e.dp)
		mustT(t, err)
		if want := "route 10.99.0.0/16 via 198.18.0.254 dev eth0 proto 4\n"; got != want {
			t.Errorf("after Teardown:\n%swant only the foreign route:\n%s", got, want)
		}
	})
}

// TestSharedVTEPMAC: two leases with one VTEP MAC (a node whose address
// changed while its old lease lives on). The kernel holds one FDB
// destination per MAC: the newest lease's, whatever the order, on every
// full reconcile; when it leaves, the other lease's destination takes over
// at once, not at the next resync.
func TestSharedVTEPMAC(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		old, cur := lease(5, "198.18.0.5", false), lease(6, "198.18.0.6", false)
		old.ModRevision, cur.ModRevision = 10, 20
		cur.Attrs.BackendData = old.Attrs.BackendData // same VTEP MAC
		both := strings.Replace(expectPeers([]subnet.Lease{old, cur}), "fdb flannel.1 "+mac(5)+" dst 198.18.0.5\n", "", 1)
		// No periodic resync: a wrong choice would stay for the test to see.
		n := startNode(t, e, subnet.BackendConfig{}, Options{ResyncInterval: time.Hour}, lease(1, "198.18.0.1", false))
		for i := range 12 {
			order := []subnet.Lease{old, cur}
			if i%2 == 1 {
				order = []subnet.Lease{cur, old}
			}
			n.b.SetPeers(order) // each is a full reconcile, planned in map order
			time.Sleep(20 * time.Millisecond)
			waitSnapshot(t, e, both)
		}
		n.b.ApplyEvents([]subnet.Event{subnet.RemovedEvent(cur)})
		waitSnapshot(t, e, expectPeers([]subnet.Lease{old}))
	})
}

// TestDeviceProblemDoesNotStopPeers: an error on the device that leaves it
// usable (here its own address cannot be added) is reported and retried,
// but every peer is programmed meanwhile, and later events still apply.
func TestDeviceProblemDoesNotStopPeers(t *testing.T) {
	e := newFakeEnv(t)
	f := e.dp.(*dataplanetest.FakeDataplane)
	f.FailOn(func(call string) error {
		if strings.HasPrefix(call, "add addr") {
			return errors.New("injected failure")
		}
		return nil
	})
	p2, p3 := lease(2, "198.18.0.2", false), lease(3, "198.18.0.3", false)
	n := startNode(t, e, subnet.BackendConfig{}, Options{RetryInterval: 50 * time.Millisecond}, lease(1, "198.18.0.1", false))
	n.b.SetPeers([]subnet.Lease{p2})
	waitFor(t, "peer programmed despite the device error", func() bool {
		st := n.b.Status()
		return st.Peers == 1 && st.LastError != nil
	})
	n.b.ApplyEvents([]subnet.Event{{Type: subnet.EventAdded, Lease: p3}})
	waitFor(t, "a later peer programmed too", func() bool {
		return strings.Contains(f.String(), "route 10.244.3.0/24")
	})
}

// TestEventHoldsBackRoute: on the event path too, a route whose gateway's
// FDB entry failed is not added; the next trigger completes the peer.
func TestEventHoldsBackRoute(t *testing.T) {
	e := newFakeEnv(t)
	f := e.dp.(*dataplanetest.FakeDataplane)
	var failing atomic.Bool
	failing.Store(true)
	f.FailOn(func(call string) error {
		if failing.Load() && strings.HasPrefix(call, "set fdb "+mac(4)) {
			return errors.New("injected failure")
		}
		return nil
	})
	p2, p4 := lease(2, "198.18.0.2", false), lease(4, "198.18.0.4", false)
	n := startNode(t, e, subnet.BackendConfig{}, Options{RetryInterval: time.Hour}, lease(1, "198.18.0.1", false))
	n.b.SetPeers([]subnet.Lease{p2})
	waitSnapshot(t, e, expectPeers([]subnet.Lease{p2}))
	f.ResetCalls()
	n.b.ApplyEvents([]subnet.Event{{Type: subnet.EventAdded, Lease: p4}})
	waitFor(t, "the failed FDB entry", func() bool { return len(f.Calls()) >= 2 })
	time.Sleep(50 * time.Millisecond) // a route would follow at once
	want := []string{"set neigh 10.244.4.0 lladdr 02:00:00:00:00:04 dev flannel.1",
		"set fdb 02:00:00:00:00:04 dst 198.18.0.4 dev flannel.1"}
	if d := cmp.Diff(want, f.Calls()); d != "" {
		t.Errorf("calls (-want +got):\n%s", d)
	}
	failing.Store(false)
	n.b.SetPeers([]subnet.Lease{p2, p4})
	waitSnapshot(t, e, expectPeers([]subnet.Lease{p2, p4}))
}

// TestPeerLogs: only peers are logged as added or removed, with the
// fields they have: not our own lease, not a reservation, and no
// public_ip of a lease without one.
func TestPeerLogs(t *testing.T) {
	e := newFakeEnv(t)
	log, hook := test.NewNullLogger()
	own, p2 := lease(1, "198.18.0.1", false), lease(2, "198.18.0.2", false)
	reservation := lease(4, "198.18.0.4", false)
	reservation.Attrs.BackendData, reservation.LeaseID = nil, 0
	udp := lease(5, "198.18.0.5", false)
	udp.Attrs = subnet.LeaseAttrs{BackendType: "udp", BackendData: []byte(`{}`)}
	n := startNode(t, e, subnet.BackendConfig{}, Options{Log: log}, own)
	n.b.SetPeers(nil)
	waitFor(t, "ready", func() bool { return n.b.Status().Ready })
	var evs []subnet.Event
	for _, l := range []subnet.Lease{own, reservation, udp, p2} {
		evs = append(evs, subnet.Event{Type: subnet.EventAdded, Lease: l})
	}
	n.b.ApplyEvents(evs)
	waitSnapshot(t, e, expectPeers([]subnet.Lease{p2}))
	n.b.ApplyEvents([]subnet.Event{subnet.RemovedEvent(own), subnet.RemovedEvent(udp), subnet.RemovedEvent(p2)})
	waitSnapshot(t, e, expectPeers(nil))
	n.stop(t)
	var got []string
	for _, en := range hook.AllEntries() {
		for k, v := range en.Data {
			if s := fmt.Sprint(v); s == "invalid IP" || s == "invalid Prefix" {
				t.Errorf("%q logs %s=%s", en.Message, k, s)
			}
		}
		if strings.HasPrefix(en.Message, "peer ") {
			got = append(got, fmt.Sprintf("%s %v %v", en.Message, en.Data["subnet"], en.Data["public_ip"]))
		}
	}
	want := []string{"peer added 10.244.2.0/24 198.18.0.2", "peer removed 10.244.2.0/24 <nil>"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("peer logs (-want +got):\n%s", d)
	}
}

// TestPeerLogsSummarised: a step that adds or removes more than
// peerLogLimit peers, whether by lease events or with a whole new peer
// set, logs them one by one at debug level only, and one "peers changed"
// line with the counts at info level.
func TestPeerLogsSummarised(t *testing.T) {
	e := newFakeEnv(t)
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	n := startNode(t, e, subnet.BackendConfig{}, Options{Log: log}, lease(1, "198.18.0.1", false))
	const many = 2 * (peerLogLimit + 1) // removing half is still more than the limit
	var peers []subnet.Lease
	for i := range many {
		peers = append(peers, lease(10+i, fmt.Sprintf("198.18.0.%d", 10+i), false))
	}
	n.b.SetPeers(peers) // a new set: planned afresh
	waitSnapshot(t, e, expectPeers(peers))
	var evs []subnet.Event
	for _, l := range peers[:many/2] {
		evs = append(evs, subnet.RemovedEvent(l))
	}
	n.b.ApplyEvents(evs) // events: the plan updated
	waitSnapshot(t, e, expectPeers(peers[many/2:]))
	n.b.SetPeers(nil)
	waitSnapshot(t, e, expectPeers(nil))
	n.stop(t)
	var summaries []string
	debug := map[string]int{}
	for _, en := range hook.AllEntries() {
		switch {
		case en.Message == "peers changed":
			summaries = append(summaries, fmt.Sprintf("%s added=%v removed=%v", en.Level, en.Data["added"], en.Data["removed"]))
		case strings.HasPrefix(en.Message, "peer ") && en.Level == logrus.DebugLevel:
			debug[en.Message]++
		case strings.HasPrefix(en.Message, "peer "):
			t.Errorf("%q logged at %s in a step of more than %d peers", en.Message, en.Level, peerLogLimit)
		}
	}
	want := []string{fmt.Sprintf("info added=%d removed=0", many), fmt.Sprintf("info added=0 removed=%d", many/2),
		fmt.Sprintf("info added=0 removed=%d", many/2)}
	if d := cmp.Diff(want, summaries); d != "" {
		t.Errorf("summaries (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]int{"peer added": many, "peer removed": many}, debug); d != "" {
		t.Errorf("per-peer lines at debug level (-want +got):\n%s", d)
	}
}

// TestPeerLogsCountsAtInfo: with the log at info level, a large new peer
// set is counted whole in its summary though its peers are not kept for
// per-peer lines.
func TestPeerLogsCountsAtInfo(t *testing.T) {
	e := newFakeEnv(t)
	log, hook := test.NewNullLogger()
	n := startNode(t, e, subnet.BackendConfig{}, Options{Log: log}, lease(1, "198.18.0.1", false))
	var peers []subnet.Lease
	for i := range 3 * peerLogLimit {
		peers = append(peers, lease(10+i, fmt.Sprintf("198.18.0.%d", 10+i), false))
	}
	n.b.SetPeers(peers)
	waitSnapshot(t, e, expectPeers(peers))
	n.stop(t)
	var got []string
	for _, en := range hook.AllEntries() {
		if strings.HasPrefix(en.Message, "peer") {
			got = append(got, fmt.Sprintf("%s %s added=%v", en.Level, en.Message, en.Data["added"]))
		}
	}
	if d := cmp.Diff([]string{fmt.Sprintf("info peers changed added=%d", 3*peerLogLimit)}, got); d != "" {
		t.Errorf("peer logs (-want +got):\n%s", d)
	}
}

// TestPeerLogBudget: over one PeerLogWindow at most peerLogLimit peers are
// logged at info level, each in its own step; the rest are logged at
// debug level and counted, and their counts come out in one "peers
// changed" line once the window has ended. Then a new window starts.
func TestPeerLogBudget(t *testing.T) {
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	b, err := New(subnet.BackendConfig{}, nil, Options{Log: log, PeerLogWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	step := func(at time.Duration, i int, added bool) {
		pl := b.peerLogAt(t0.Add(at), 1)
		s := specOf(&[]subnet.Lease{lease(10+i, "198.18.0.10", false)}[0])
		pl.peer(netip.MustParsePrefix(fmt.Sprintf("10.244.%d.0/24", 10+i)), &s, !added, added)
		pl.done()
	}
	count := func() (info, debug int, summaries []string) {
		for _, en := range hook.AllEntries() {
			switch {
			case en.Message == "peers changed":
				summaries = append(summaries, fmt.Sprintf("added=%v removed=%v over=%v", en.Data["added"], en.Data["removed"], en.Data["over"]))
			case strings.HasPrefix(en.Message, "peer ") && en.Level == logrus.InfoLevel:
				info++
			case strings.HasPrefix(en.Message, "peer "):
				debug++
			}
		}
		return info, debug, summaries
	}
	for i := range 2 * peerLogLimit {
		step(time.Duration(i)*time.Second, i, i%4 != 3)
	}
	if info, debug, sums := count(); info != peerLogLimit || debug != peerLogLimit || len(sums) != 0 {
		t.Fatalf("within the window: %d at info, %d at debug, summaries %q; want %d, %d, none",
			info, debug, sums, peerLogLimit, peerLogLimit)
	}
	b.flushPeerLog(t0.Add(59 * time.Second))
	if _, _, sums := count(); len(sums) != 0 {
		t.Fatalf("summary before the window ended: %q", sums)
	}
	b.flushPeerLog(t0.Add(61 * time.Second))
	_, _, sums := count()
	if want := []string{"added=12 removed=4 over=1m1s"}; !slices.Equal(sums, want) {
		t.Fatalf("summaries %q, want %q", sums, want)
	}
	step(62*time.Second, 0, true)
	if info, _, _ := count(); info != peerLogLimit+1 {
		t.Errorf("after the window: %d peers at info, want %d (a new window)", info, peerLogLimit+1)
	}
}
