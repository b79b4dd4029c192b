// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package dataplanetest

import (
	"cmp"
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/weft-net/weft/backend/dataplane"
)

func testNeighs(t *testing.T, h Harness) {
	l := h.NewVXLAN(t)
	n4 := dataplane.Neigh{LinkIndex: l.Index, IP: netip.MustParseAddr("10.244.2.0"), MAC: macA}
	n6 := dataplane.Neigh{LinkIndex: l.Index, IP: netip.MustParseAddr("fd00:10:244:2::"), MAC: macA}
	for range 2 {
		must(t, h.DP.SetNeigh(n4))
	}
	must(t, h.DP.SetNeigh(n6))
	n4.MAC = macB
	must(t, h.DP.SetNeigh(n4))
	got, err := h.DP.Neighs(l.Index)
	must(t, err)
	if d := gocmp.Diff([]dataplane.Neigh{n4, n6}, got, cmpN); d != "" {
		t.Errorf("Neighs (-want +got):\n%s", d)
	}
	for range 2 {
		must(t, h.DP.DelNeigh(n4))
	}
	must(t, h.DP.DelNeigh(n6))
	got, err = h.DP.Neighs(l.Index)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("Neighs after DelNeigh = %v, want none", got)
	}
}

func testFDB(t *testing.T, h Harness) {
	l := h.NewVXLAN(t)
	e1 := dataplane.FDBEntry{LinkIndex: l.Index, MAC: macB, Dst: netip.MustParseAddr("198.18.0.2")}
	e2 := dataplane.FDBEntry{LinkIndex: l.Index, MAC: macB, Dst: netip.MustParseAddr("198.18.0.3")}
	e3 := dataplane.FDBEntry{LinkIndex: l.Index, MAC: macA, Dst: netip.MustParseAddr("198.18.0.4")}
	for range 2 {
		must(t, h.DP.SetFDB(e1))
	}
	must(t, h.DP.SetFDB(e2)) // same MAC, new destination: replaces
	must(t, h.DP.SetFDB(e3))
	got, err := h.DP.FDB(l.Index)
	must(t, err)
	if d := gocmp.Diff([]dataplane.FDBEntry{e2, e3}, got, cmpN); d != "" {
		t.Errorf("FDB (-want +got):\n%s", d)
	}
	must(t, h.DP.DelFDB(e1)) // stale destination: no match, no error
	for range 2 {
		must(t, h.DP.DelFDB(e2))
	}
	got, err = h.DP.FDB(l.Index)
	must(t, err)
	if d := gocmp.Diff([]dataplane.FDBEntry{e3}, got, cmpN); d != "" {
		t.Errorf("FDB after DelFDB (-want +got):\n%s", d)
	}
}

func ownRoutes(t *testing.T, dp dataplane.Dataplane, f dataplane.Family) []dataplane.Route {
	t.Helper()
	rs, err := dp.Routes(f)
	must(t, err)
	var out []dataplane.Route
	for _, r := range rs {
		if r.Protocol == WeftProto {
			r.Src = netip.Addr{}
			out = append(out, r)
		}
	}
	return out
}

func testRoutes(t *testing.T, h Harness) {
	l := h.NewVXLAN(t)
	r4 := dataplane.Route{Dst: netip.MustParsePrefix("10.244.2.0/24"), Gw: netip.MustParseAddr("10.244.2.0"),
		LinkIndex: l.Index, OnLink: true, Protocol: WeftProto}
	r6 := dataplane.Route{Dst: netip.MustParsePrefix("fd00:10:244:2::/64"), Gw: netip.MustParseAddr("fd00:10:244:2::"),
		LinkIndex: l.Index, OnLink: true, Protocol: WeftProto}
	direct := dataplane.Route{Dst: netip.MustParsePrefix("10.244.3.0/24"), Gw: netip.MustParseAddr("198.18.0.3"),
		LinkIndex: h.Underlay.Index, Protocol: WeftProto}
	for _, r := range []dataplane.Route{r4, r4, r6, direct} {
		must(t, h.DP.ReplaceRoute(r))
	}
	r4.Gw = netip.MustParseAddr("10.244.2.1")
	must(t, h.DP.ReplaceRoute(r4))
	if d := gocmp.Diff([]dataplane.Route{r4, direct}, ownRoutes(t, h.DP, dataplane.IPv4), cmpN,
		gocmp.Transformer("sort", sortRoutes)); d != "" {
		t.Errorf("IPv4 routes (-want +got):\n%s", d)
	}
	want6 := r6
	want6.Metric = dataplane.IPv6DefaultMetric // added without one
	if d := gocmp.Diff([]dataplane.Route{want6}, ownRoutes(t, h.DP, dataplane.IPv6), cmpN); d != "" {
		t.Errorf("IPv6 routes (-want +got):\n%s", d)
	}
	other := r4
	other.Protocol = dataplane.RTProtoBoot
	must(t, h.DP.DelRoute(other)) // another owner's protocol: must not match ours
	if len(ownRoutes(t, h.DP, dataplane.IPv4)) != 2 {
		t.Error("DelRoute with another protocol deleted our route")
	}
	for range 2 {
		must(t, h.DP.DelRoute(r4))
	}
	must(t, h.DP.DelRoute(r6))
	if d := gocmp.Diff([]dataplane.Route{direct}, ownRoutes(t, h.DP, dataplane.IPv4), cmpN); d != "" {
		t.Errorf("IPv4 routes after DelRoute (-want +got):\n%s", d)
	}
	unreachable := dataplane.Route{Dst: netip.MustParsePrefix("10.244.4.0/24"), Gw: netip.MustParseAddr("203.0.113.9"),
		LinkIndex: h.Underlay.Index, Protocol: WeftProto}
	if err := h.DP.ReplaceRoute(unreachable); err == nil {
		t.Error("route via a gateway off the link without onlink was accepted, want an error")
	}
}

// testRouteMetrics: the metric is part of a route's identity. A replace
// with another metric adds a route beside the first, one with the same
// metric replaces it; a delete with a metric removes only that route, one
// without removes the lowest-metric match; dumps report the metric. This
// is what weft's switch-over from metric-0 routes rests on.
func testRouteMetrics(t *testing.T, h Harness) {
	l := h.NewVXLAN(t)
	const m = 0x0af40200 // 10.244.2.0 as a number, weft's metric for the subnet
	old := dataplane.Route{Dst: netip.MustParsePrefix("10.244.2.0/24"), Gw: netip.MustParseAddr("10.244.2.0"),
		LinkIndex: l.Index, OnLink: true, Protocol: WeftProto}
	next := old
	next.Metric = m
	next.Gw = netip.MustParseAddr("10.244.2.1") // to tell which route a lookup takes
	boot := old
	boot.Dst, boot.Gw, boot.Protocol = netip.MustParsePrefix("10.244.3.0/24"), netip.MustParseAddr("10.244.3.0"), 0
	must(t, h.DP.ReplaceRoute(old))
	must(t, h.DP.ReplaceRoute(next))
	must(t, h.DP.ReplaceRoute(next)) // same metric: replaces, no third route
	must(t, h.DP.ReplaceRoute(boot))
	bootWant := boot
	bootWant.Protocol = dataplane.RTProtoBoot
	got := routesTo(t, h.DP, dataplane.IPv4, old.Dst, boot.Dst)
	if d := gocmp.Diff([]dataplane.Route{old, next, bootWant}, got, cmpN); d != "" {
		t.Errorf("routes with metrics (-want +got):\n%s", d)
	}
	// Until the metric-0 route goes, it is the one the kernel uses.
	if r, err := h.DP.RouteGet(netip.MustParseAddr("10.244.2.7")); err != nil || r.Gw != old.Gw {
		t.Errorf("RouteGet(10.244.2.7) = %+v, %v; want the metric-0 route via %s", r, err, old.Gw)
	}
	moved := next
	moved.Gw = netip.MustParseAddr("10.244.2.2")
	must(t, h.DP.ReplaceRoute(moved)) // same metric, new gateway: replaced in place
	must(t, h.DP.DelRoute(old))       // metric 0: the lowest-metric match, the old route
	got = routesTo(t, h.DP, dataplane.IPv4, old.Dst, boot.Dst)
	if d := gocmp.Diff([]dataplane.Route{moved, bootWant}, got, cmpN); d != "" {
		t.Errorf("after replace and delete of the metric-0 route (-want +got):\n%s", d)
	}
	must(t, h.DP.ReplaceRoute(old))
	must(t, h.DP.DelRoute(next)) // by metric: the metric-0 route stays
	got = routesTo(t, h.DP, dataplane.IPv4, old.Dst, boot.Dst)
	if d := gocmp.Diff([]dataplane.Route{old, bootWant}, got, cmpN); d != "" {
		t.Errorf("after delete by metric (-want +got):\n%s", d)
	}
	other := next
	other.Metric = m + 1
	must(t, h.DP.DelRoute(other)) // no route with that metric: nothing, no error
	must(t, h.DP.DelRoute(bootWant))
	if got = routesTo(t, h.DP, dataplane.IPv4, old.Dst, boot.Dst); len(got) != 1 {
		t.Errorf("routes after deleting the boot route: %+v, want the metric-0 route only", got)
	}
	// IPv6: a route added without a metric is the default one; naming the
	// default replaces it rather than adding a second.
	r6 := dataplane.Route{Dst: netip.MustParsePrefix("fd00:10:244:2::/64"), Gw: netip.MustParseAddr("fd00:10:244:2::"),
		LinkIndex: l.Index, OnLink: true, Protocol: WeftProto}
	must(t, h.DP.ReplaceRoute(r6))
	r6.Metric = dataplane.IPv6DefaultMetric
	r6.Gw = netip.MustParseAddr("fd00:10:244:2::1")
	must(t, h.DP.ReplaceRoute(r6))
	if d := gocmp.Diff([]dataplane.Route{r6}, routesTo(t, h.DP, dataplane.IPv6, r6.Dst), cmpN); d != "" {
		t.Errorf("IPv6 routes (-want +got):\n%s", d)
	}
	must(t, h.DP.DelRoute(r6))
	if got := routesTo(t, h.DP, dataplane.IPv6, r6.Dst); len(got) != 0 {
		t.Errorf("IPv6 routes after delete: %+v", got)
	}
}

// routesTo lists the routes to dsts, ordered by destination and metric.
func routesTo(t *testing.T, dp dataplane.Dataplane, f dataplane.Family, dsts ...netip.Prefix) []dataplane.Route {
	t.Helper()
	rs, err := dp.Routes(f)
	must(t, err)
	var out []dataplane.Route
	for _, r := range rs {
		if slices.Contains(dsts, r.Dst) {
			r.Src = netip.Addr{}
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b dataplane.Route) int {
		return cmp.Or(a.Dst.Addr().Compare(b.Dst.Addr()), cmp.Compare(a.Metric, b.Metric))
	})
	return out
}

func sortRoutes(rs []dataplane.Route) map[netip.Prefix]dataplane.Route {
	m := make(map[netip.Prefix]dataplane.Route, len(rs))
	for _, r := range rs {
		m[r.Dst] = r
	}
	return m
}

func testRouteGet(t *testing.T, h Harness) {
	r, err := h.DP.RouteGet(netip.MustParseAddr("198.18.0.7"))
	must(t, err)
	if r.LinkIndex != h.Underlay.Index || r.Src != UnderlayAddr.Addr() || r.Gw.IsValid() {
		t.Errorf("RouteGet(198.18.0.7) = %+v, want dev %d src %s no gateway", r, h.Underlay.Index, UnderlayAddr.Addr())
	}
	if _, err := h.DP.RouteGet(netip.MustParseAddr("203.0.113.1")); !errors.Is(err, dataplane.ErrNotFound) {
		t.Errorf("RouteGet(unreachable) error = %v, want ErrNotFound", err)
	}
	if _, err := h.DP.DefaultRouteLink(dataplane.IPv4); !errors.Is(err, dataplane.ErrNotFound) {
		t.Errorf("DefaultRouteLink without a default route: %v, want ErrNotFound", err)
	}
	must(t, h.DP.ReplaceRoute(dataplane.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"),
		Gw: netip.MustParseAddr("198.18.0.254"), LinkIndex: h.Underlay.Index, Protocol: WeftProto}))
	idx, err := h.DP.DefaultRouteLink(dataplane.IPv4)
	must(t, err)
	if idx != h.Underlay.Index {
		t.Errorf("DefaultRouteLink = %d, want %d", idx, h.Underlay.Index)
	}
	r, err = h.DP.RouteGet(netip.MustParseAddr("203.0.113.1"))
	must(t, err)
	if r.Gw != netip.MustParseAddr("198.18.0.254") || r.LinkIndex != h.Underlay.Index {
		t.Errorf("RouteGet via default = %+v, want via 198.18.0.254 dev %d", r, h.Underlay.Index)
	}
}

func testTxChecksum(t *testing.T, h Harness) {
	h.NewVXLAN(t)
	for _, want := range []bool{false, true, false} {
		must(t, h.DP.SetTxChecksum("flannel.1", want))
		got, err := h.DP.TxChecksum("flannel.1")
		must(t, err)
		if got != want {
			t.Errorf("TxChecksum after SetTxChecksum(%t) = %t", want, got)
		}
	}
}

func testWatch(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	updates := make(chan dataplane.Update, 64)
	done := make(chan error, 1)
	go func() { done <- h.DP.Watch(ctx, updates) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch returned %v after cancel, want nil", err)
		}
	}()
	// Subscriptions start asynchronously: repeat the first change until seen.
	l := h.NewVXLAN(t)
	n := dataplane.Neigh{LinkIndex: l.Index, IP: netip.MustParseAddr("10.244.2.0"), MAC: macB}
	await(t, updates, func() { must(t, h.DP.SetNeigh(n)); must(t, h.DP.DelNeigh(n)) }, func(u dataplane.Update) bool {
		return u.Kind == dataplane.NeighUpdate && u.Deleted && u.Neigh.IP == n.IP && u.Neigh.LinkIndex == l.Index
	})
	e := dataplane.FDBEntry{LinkIndex: l.Index, MAC: macB, Dst: netip.MustParseAddr("198.18.0.2")}
	await(t, updates, func() { must(t, h.DP.SetFDB(e)) }, func(u dataplane.Update) bool {
		return u.Kind == dataplane.FDBUpdate && !u.Deleted && u.FDB == e
	})
	r := dataplane.Route{Dst: netip.MustParsePrefix("10.244.2.0/24"), Gw: n.IP, LinkIndex: l.Index, OnLink: true, Protocol: WeftProto}
	await(t, updates, func() { must(t, h.DP.ReplaceRoute(r)) }, func(u dataplane.Update) bool {
		return u.Kind == dataplane.RouteUpdate && !u.Deleted && u.Route.Dst == r.Dst && u.Route.Protocol == WeftProto
	})
	await(t, updates, func() { must(t, h.DP.DelLink("flannel.1")) }, func(u dataplane.Update) bool {
		return u.Kind == dataplane.LinkUpdate && u.Deleted && u.Link.Name == "flannel.1"
	})
}

// await runs act, then, while waiting up to a generous deadline for an
// update matching ok, runs it again every second (the first run may
// precede the subscription).
func await(t *testing.T, updates <-chan dataplane.Update, act func(), ok func(dataplane.Update) bool) {
	t.Helper()
	act()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case u := <-updates:
			if ok(u) {
				return
			}
		case <-tick.C:
			act()
		case <-deadline:
			t.Fatal("no matching update within 30s")
		}
	}
}
