// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

// leaseV6 is node i's lease in an IPv6-only network, as flanneld writes
// it: no IPv4 subnet (key 0.0.0.0-0&…), PublicIP 0.0.0.0, BackendV6Data.
func leaseV6(i int) subnet.Lease {
	return subnet.Lease{
		IPv6Subnet: netip.MustParsePrefix(fmt.Sprintf("fd00:10:244:%x::/64", i)),
		Attrs: subnet.LeaseAttrs{PublicIP: netip.IPv4Unspecified(), BackendType: "vxlan",
			PublicIPv6:    netip.MustParseAddr(fmt.Sprintf("2001:db8:18::%x", i)),
			BackendV6Data: vxlanData(mac(0x600 + i))},
		LeaseID: 1, ModRevision: int64(i),
	}
}

// Plan on an IPv6-only node: peers keyed by their IPv6 subnet, entries on
// the IPv6 device only, our own lease and unfilled reservations skipped.
func TestPlanIPv6Only(t *testing.T) {
	own := leaseV6(1)
	res := leaseV6(4)
	res.Attrs.BackendV6Data = nil
	l := Local{Own6: own.IPv6Subnet, Dev6: 7, Underlay: 2}
	p, problems := planLeases(l, []subnet.Lease{own, leaseV6(2), leaseV6(3), res})
	got := map[netip.Prefix]peerEntries{}
	for k := range p.peers {
		got[k], _ = p.want(k)
	}
	if len(problems) != 0 {
		t.Errorf("problems: %v", problems)
	}
	if len(got) != 2 {
		t.Fatalf("planned %d peers, want 2: %v", len(got), got)
	}
	for _, i := range []int{2, 3} {
		le := leaseV6(i)
		e, ok := got[le.IPv6Subnet]
		if !ok {
			t.Fatalf("no entries for %s", le.IPv6Subnet)
		}
		if e.FDB.LinkIndex != 7 || e.FDB.Dst != le.Attrs.PublicIPv6 || e.Neigh.IP != le.IPv6Subnet.Addr() || e.Route.Dst != le.IPv6Subnet || e.Route.LinkIndex != 7 {
			t.Errorf("entries for %s: %+v", le.IPv6Subnet, e)
		}
	}
	if p.desired4 != 2 {
		t.Errorf("peers counted on an IPv6-only node: %d, want 2", p.desired4)
	}
	// A node with an IPv4 device cannot program an IPv6-only lease.
	_, problems = planLeases(Local{Own4: netip.MustParsePrefix("10.244.1.0/24"), Dev4: 5, Dev6: 7}, []subnet.Lease{leaseV6(2)})
	if len(problems) != 1 || !errors.Is(problems[0].Err, errNoIPv4) {
		t.Errorf("IPv6-only lease on a dual-stack node: problems %v, want %v", problems, errNoIPv4)
	}
}

// An IPv6-only backend runs flannel-v6.<VNI> alone, publishes flanneld's
// IPv6-only lease value and programs, then removes, IPv6-only peers.
func TestIPv6OnlyBackend(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e *env) {
		n := startNode(t, e, subnet.BackendConfig{}, Options{IPv6Only: true}, leaseV6(1))
		a := n.attrs
		if a.PublicIP != netip.IPv4Unspecified() || a.PublicIPv6 != underlay6.Addr() || len(a.BackendData) != 0 ||
			string(a.BackendV6Data) != string(vxlanData(mac(0x601))) {
			t.Errorf("lease attributes %+v, want PublicIP 0.0.0.0, PublicIPv6 %s, only BackendV6Data with %s", a, underlay6.Addr(), mac(0x601))
		}
		if m := n.b.MTU(); m != 1430 {
			t.Errorf("MTU %d, want 1430 (1500 - 70)", m)
		}
		if _, err := e.dp.LinkByName(DeviceName(1)); !errors.Is(err, dataplane.ErrNotFound) {
			t.Errorf("flannel.1 in an IPv6-only network: %v", err)
		}
		dev, err := e.dp.LinkByName(DeviceNameV6(1))
		if err != nil || dev.MTU != 1430 || dev.VXLAN == nil || dev.VXLAN.Local != underlay6.Addr() {
			t.Fatalf("flannel-v6.1 = %+v, %v; want MTU 1430, local %s", dev, err, underlay6.Addr())
		}
		n.b.SetPeers([]subnet.Lease{leaseV6(1), leaseV6(2), leaseV6(3)})
		waitFor(t, "two IPv6 peers programmed", func() bool {
			st := n.b.Status()
			return st.Ready && st.Peers == 2 && st.Desired == 2
		})
		for _, i := range []int{2, 3} {
			if !hasV6Peer(t, e, dev.Index, leaseV6(i)) {
				t.Errorf("peer %d: entries missing", i)
			}
		}
		if addrs, _ := e.dp.Addrs(dev.Index); !slices.Contains(addrs, netip.MustParsePrefix("fd00:10:244:1::/128")) {
			t.Errorf("flannel-v6.1 addresses %v, want fd00:10:244:1::/128", addrs)
		}
		n.b.ApplyEvents([]subnet.Event{subnet.RemovedEvent(leaseV6(3))})
		waitFor(t, "peer 3 removed", func() bool { return !hasV6Peer(t, e, dev.Index, leaseV6(3)) && n.b.Status().Desired == 1 })
		if !hasV6Peer(t, e, dev.Index, leaseV6(2)) {
			t.Error("removing peer 3 removed peer 2's entries")
		}
	})
}

func hasV6Peer(t *testing.T, e *env, dev int, l subnet.Lease) bool {
	t.Helper()
	d, _ := subnet.DecodeVXLANData(l.Attrs.BackendV6Data)
	fdb, err := e.dp.FDB(dev)
	if err != nil {
		t.Fatal(err)
	}
	routes, err := e.dp.Routes(dataplane.IPv6)
	if err != nil {
		t.Fatal(err)
	}
	neighs, err := e.dp.Neighs(dev)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(fdb, func(f dataplane.FDBEntry) bool { return f.MAC == d.VtepMAC && f.Dst == l.Attrs.PublicIPv6 }) &&
		slices.ContainsFunc(neighs, func(n dataplane.Neigh) bool { return n.IP == l.IPv6Subnet.Addr() && n.MAC == d.VtepMAC }) &&
		slices.ContainsFunc(routes, func(r dataplane.Route) bool { return r.Dst == l.IPv6Subnet && r.LinkIndex == dev })
}
