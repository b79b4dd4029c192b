// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/backend/dataplane/dataplanetest"
	"github.com/weft-net/weft/subnet"
)

// TestRouteMetric: the metric is the subnet's address as a number, so it is
// stable, distinct for distinct subnets (every /24 of 10.0.0.0/8 here) and
// never 0; IPv6 routes keep the kernel's default.
func TestRouteMetric(t *testing.T) {
	for _, tt := range []struct {
		dst  string
		want uint32
	}{
		{"10.244.2.0/24", 0x0af40200},
		{"10.244.2.7/24", 0x0af40200}, // as a route stores it: masked
		{"10.0.0.0/8", 0x0a000000},
		{"192.168.255.252/30", 0xc0a8fffc},
		{"0.0.0.0/8", 1}, // no subnet's address, but never 0
		{"fd00:10:244:2::/64", 1024},
	} {
		if got := RouteMetric(netip.MustParsePrefix(tt.dst)); got != tt.want {
			t.Errorf("RouteMetric(%s) = %d, want %d", tt.dst, got, tt.want)
		}
	}
	seen := make(map[uint32]netip.Prefix, 1<<16)
	for i := range 1 << 16 {
		sn := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)
		m := RouteMetric(sn)
		if other, dup := seen[m]; dup || m == 0 {
			t.Fatalf("RouteMetric(%s) = %d, also %s's (or 0)", sn, m, other)
		}
		seen[m] = sn
	}
}

// oldForm is a route of an older form to a peer subnet: metric 0, proto p.
func oldForm(sn string, gw string, dev int, onlink bool, proto uint8) dataplane.Route {
	return dataplane.Route{Dst: netip.MustParsePrefix(sn), Gw: netip.MustParseAddr(gw), LinkIndex: dev, OnLink: onlink, Protocol: proto}
}

// TestDiffSwitchOver: a kernel that holds older forms of weft's routes
// (an older weftd's, metric 0 proto 87; flanneld's, proto boot; flanneld's
// DirectRouting route on the underlay) gets, chunk by chunk, each new route
// added and then the older one deleted by its metric: until then the
// older route (lower metric) carries the traffic, through the same
// gateway. A peer that holds both forms only loses the older one; an
// older-form route to a subnet nobody plans goes first, as any stale
// route; another owner's route is left alone.
func TestDiffSwitchOver(t *testing.T) {
	l := local
	l.Direct = []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}
	p2, p3, p4, p5 := lease(2, "203.0.113.2", false), lease(3, "203.0.113.3", false), lease(4, "203.0.113.4", false),
		lease(5, "198.18.0.5", false)
	p, problems := planLeases(l, []subnet.Lease{p2, p3, p4, p5})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	have := stateOfPlan(p)
	kernel := Tables{}
	for _, k := range p.sortedKeys() {
		if k != p2.Subnet && k != p3.Subnet && k != p5.Subnet { // these hold only older forms
			kernel.Routes = append(kernel.Routes, have.routesTo(k)...)
		}
	}
	kernel.Routes = append(kernel.Routes,
		oldForm("10.244.2.0/24", "10.244.2.0", 10, true, RouteProtocol),         // older weftd
		oldForm("10.244.3.0/24", "10.244.3.0", 10, true, dataplane.RTProtoBoot), // flanneld
		oldForm("10.244.4.0/24", "10.244.4.0", 10, true, RouteProtocol),         // older weftd, beside the new one
		oldForm("10.244.5.0/24", "198.18.0.5", 2, false, dataplane.RTProtoBoot), // flanneld's direct route
		oldForm("10.244.9.0/24", "10.244.9.0", 10, true, RouteProtocol),         // older weftd, peer gone
		oldForm("10.244.8.0/24", "198.18.0.8", 2, false, dataplane.RTProtoBoot), // someone's route on the underlay
		oldForm("10.99.0.0/16", "198.18.0.254", 2, false, 4))                    // someone else's
	kernel.Neighs = append(kernel.Neighs, have.neighs...)
	kernel.FDB = append(kernel.FDB, have.fdb...)
	ops, _ := Check(l, []subnet.Lease{p2, p3, p4, p5}, kernel)
	want := []string{
		"del route 10.244.9.0/24 dev 10 proto 87",
		"replace route 10.244.2.0/24 via 10.244.2.0 dev 10 metric 183763456",
		"replace route 10.244.3.0/24 via 10.244.3.0 dev 10 metric 183763712",
		"replace route 10.244.5.0/24 via 198.18.0.5 dev 2 metric 183764224",
		"del route 10.244.2.0/24 dev 10 proto 87",
		"del route 10.244.3.0/24 dev 10 proto 3",
		"del route 10.244.4.0/24 dev 10 proto 87",
		"del route 10.244.5.0/24 dev 2 proto 3",
	}
	if d := cmp.Diff(want, opStrings(ops)); d != "" {
		t.Errorf("ops (-want +got):\n%s", d)
	}
}

// TestShadowed: a route weft does not own with a lower metric than weft's
// to a planned subnet wins lookups; Shadowed names it. weft's own older
// forms, flanneld's routes it adopts and routes with a higher metric are
// no shadows.
func TestShadowed(t *testing.T) {
	l := local
	l.Direct = []netip.Prefix{netip.MustParsePrefix("198.18.0.1/24")}
	p2, p3, p4, p5 := lease(2, "203.0.113.2", false), lease(3, "203.0.113.3", false), lease(4, "203.0.113.4", false),
		lease(5, "198.18.0.5", false)
	static := oldForm("10.244.2.0/24", "10.244.2.0", 10, true, 4)
	higher := oldForm("10.244.3.0/24", "198.18.0.77", 2, false, 4)
	higher.Metric = 0xfffffff0
	kernel := Tables{Routes: []dataplane.Route{
		static, higher,
		oldForm("10.244.4.0/24", "10.244.4.0", 10, true, RouteProtocol),
		oldForm("10.244.5.0/24", "198.18.0.5", 2, false, dataplane.RTProtoBoot),
	}}
	got := Shadowed(l, []subnet.Lease{p2, p3, p4, p5}, kernel)
	want := []Shadow{{By: static, Want: dataplane.Route{Dst: static.Dst, Gw: static.Gw, LinkIndex: 10, OnLink: true,
		Protocol: RouteProtocol, Metric: 0x0af40200}}}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("Shadowed (-want +got):\n%s", d)
	}
}

// TestApplierKeepsOldRouteWhenAddFails: the older route to a subnet is
// deleted only if the new one was added in the same run; else it keeps
// carrying the traffic until a retry.
func TestApplierKeepsOldRouteWhenAddFails(t *testing.T) {
	f := dataplanetest.NewFake()
	dev := f.AddLink(dataplane.Link{Name: "flannel.1", Kind: "vxlan", Up: true, VXLAN: &dataplane.VXLANAttrs{VNI: 1}})
	old := oldForm("10.244.2.0/24", "10.244.2.0", dev, true, RouteProtocol)
	mustT(t, f.ReplaceRoute(old))
	f.FailOn(func(call string) error {
		if strings.HasPrefix(call, "replace route 10.244.2.0/24") {
			return errors.New("injected failure")
		}
		return nil
	})
	next := old
	next.Metric = RouteMetric(old.Dst)
	a := newApplier(f, nil)
	a.apply([]Op{{Kind: OpReplaceRoute, Route: next}, {Kind: OpDelRoute, Route: old}})
	if a.ok != 0 || a.failed != 2 || a.err() == nil {
		t.Errorf("applier ok %d failed %d err %v, want both held back and an error", a.ok, a.failed, a.err())
	}
	if rs, _ := f.Routes(dataplane.IPv4); len(rs) != 1 || rs[0] != old {
		t.Errorf("routes %+v, want the old route kept", rs)
	}
}

// TestSwitchOver: a backend started on a node whose kernel holds older
// forms of its routes (an older weftd's, flanneld's, flanneld's
// DirectRouting route) ends with only the new ones, each added before the
// older route to its subnet is deleted (as the kernel reports the
// changes), and removes an older-form route to a subnet nobody plans.
func TestSwitchOver(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		cfg := subnet.BackendConfig{DirectRouting: true}
		own := lease(1, "198.18.0.1", false)
		p2, p3, p4 := lease(2, "198.18.0.2", false), lease(3, "203.0.113.3", false), lease(4, "203.0.113.4", false)
		first := startNode(t, e, cfg, Options{}, own)
		first.b.SetPeers(nil)
		waitFor(t, "device ready", func() bool { return first.b.Status().Ready })
		first.stop(t)
		dev, err := e.dp.LinkByName("flannel.1")
		mustT(t, err)
		for _, r := range []dataplane.Route{
			oldForm("10.244.2.0/24", "198.18.0.2", e.ext.Index, false, 0),          // flanneld's direct route (boot)
			oldForm("10.244.3.0/24", "10.244.3.0", dev.Index, true, RouteProtocol), // an older weftd's
			oldForm("10.244.4.0/24", "10.244.4.0", dev.Index, true, 0),             // flanneld's
			oldForm("10.244.9.0/24", "10.244.9.0", dev.Index, true, RouteProtocol), // an older weftd's, peer gone
			oldForm("10.99.0.0/16", "198.18.0.254", e.ext.Index, false, 4),         // someone else's
		} {
			mustT(t, e.dp.ReplaceRoute(r))
		}
		ctx, cancel := context.WithCancel(context.Background())
		updates := make(chan dataplane.Update, 256)
		watched := make(chan error, 1)
		go func() { watched <- e.dp.Watch(ctx, updates) }()
		var mu sync.Mutex
		var events []string
		go func() {
			for u := range updates {
				if u.Kind == dataplane.RouteUpdate {
					mu.Lock()
					events = append(events, fmt.Sprintf("%t %s %d", u.Deleted, u.Route.Dst, u.Route.Metric))
					mu.Unlock()
				}
			}
		}()
		awaitWatch(t, e, dev.Index, &mu, &events)

		n := startNode(t, e, cfg, Options{}, own)
		n.b.SetPeers([]subnet.Lease{p2, p3, p4})
		want := "addr flannel.1 10.244.1.0/32\n" +
			"fdb flannel.1 02:00:00:00:00:03 dst 203.0.113.3\n" +
			"fdb flannel.1 02:00:00:00:00:04 dst 203.0.113.4\n" + link1 +
			"neigh flannel.1 10.244.3.0 lladdr 02:00:00:00:00:03\n" +
			"neigh flannel.1 10.244.4.0 lladdr 02:00:00:00:00:04\n" +
			"route 10.244.2.0/24 via 198.18.0.2 dev eth0 proto 87 metric 183763456\n" +
			"route 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink proto 87 metric 183763712\n" +
			"route 10.244.4.0/24 via 10.244.4.0 dev flannel.1 onlink proto 87 metric 183763968\n" +
			"route 10.99.0.0/16 via 198.18.0.254 dev eth0 proto 4\n"
		waitSnapshot(t, e, want)
		waitFor(t, "ready", func() bool { st := n.b.Status(); return st.Ready && st.Peers == 3 })
		sns := []netip.Prefix{p2.Subnet, p3.Subnet, p4.Subnet}
		// Notifications trail the changes: wait for them all.
		waitFor(t, "notifications of the switch", func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, sn := range sns {
				if indexOf(events, fmt.Sprintf("true %s 0", sn)) < 0 {
					return false
				}
			}
			return true
		})
		cancel()
		mustT(t, <-watched)
		mu.Lock()
		defer mu.Unlock()
		for _, sn := range sns {
			added := indexOf(events, fmt.Sprintf("false %s %d", sn, RouteMetric(sn)))
			deleted := indexOf(events, fmt.Sprintf("true %s 0", sn))
			if added < 0 || deleted < added {
				t.Errorf("%s: new route added at event %d, older one deleted at %d; want the add first:\n%s",
					sn, added, deleted, strings.Join(events, "\n"))
			}
		}
	})
}

// awaitWatch waits until the watch reports changes (subscriptions start
// asynchronously): it adds and deletes a probe route until one is seen,
// then forgets the events so far.
func awaitWatch(t *testing.T, e *env, dev int, mu *sync.Mutex, events *[]string) {
	t.Helper()
	probe := oldForm("10.244.250.0/24", "10.244.250.0", dev, true, RouteProtocol)
	waitFor(t, "route notifications", func() bool {
		mustT(t, e.dp.ReplaceRoute(probe))
		mustT(t, e.dp.DelRoute(probe))
		mu.Lock()
		defer mu.Unlock()
		return indexOf(*events, "true 10.244.250.0/24 0") >= 0
	})
	mu.Lock()
	*events = nil
	mu.Unlock()
}

func indexOf(ss []string, s string) int {
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	return -1
}

// TestIPRouteLines: the batch lines of both forms, as iproute2 reads them.
func TestIPRouteLines(t *testing.T) {
	sn := netip.MustParsePrefix("10.244.2.0/24")
	add, del := ipRouteLines(sn, formMetric)
	if add != "route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink proto 87 metric 183763456\n" ||
		del != "route del 10.244.2.0/24 dev flannel.1 proto 87 metric 183763456\n" {
		t.Errorf("metric form: %q %q", add, del)
	}
	if add, del = ipRouteLines(sn, formOld); add != "route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink proto 87\n" ||
		del != "route del 10.244.2.0/24 dev flannel.1 proto 87\n" {
		t.Errorf("old form: %q %q", add, del)
	}
}

// TestConvergedRestartChangesNothing: on a node weft has programmed (dual
// stack, a direct and a tunnelled peer), a restarted backend finds every
// route as it plans it, metric included: the kernel reports IPv6 routes
// at metric 1024, which the plan names, so nothing is re-added.
func TestConvergedRestartChangesNothing(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		cfg := subnet.BackendConfig{DirectRouting: true}
		own := lease(1, "198.18.0.1", true)
		peers := []subnet.Lease{lease(2, "198.18.0.2", true), lease(3, "203.0.113.3", true)}
		first := startNode(t, e, cfg, Options{DualStack: true}, own)
		first.b.SetPeers(peers)
		waitFor(t, "programmed", func() bool { st := first.b.Status(); return st.Ready && st.Peers == 2 })
		first.stop(t)
		log, hook := test.NewNullLogger()
		again := startNode(t, e, cfg, Options{DualStack: true, Log: log}, own)
		again.b.SetPeers(peers)
		waitFor(t, "reconciled", func() bool { st := again.b.Status(); return st.Ready && st.Peers == 2 })
		again.stop(t)
		for _, en := range hook.AllEntries() {
			if en.Message == "kernel reconciled" {
				t.Errorf("restart on a converged node applied operations: %v", en.Data)
			}
		}
		routes, err := e.dp.Routes(dataplane.IPv6)
		mustT(t, err)
		for _, r := range routes {
			if r.Protocol == RouteProtocol && r.Metric != dataplane.IPv6DefaultMetric {
				t.Errorf("IPv6 route %+v, want metric %d", r, dataplane.IPv6DefaultMetric)
			}
		}
	})
}
