// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"net/netip"
	"slices"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

// NodeFacts extracts from a node's links and main-table routes what lease
// admission needs (subnet.Local's Addrs and Routes): every address not
// loopback or link-local, and the routes weft did not install — neither
// ours (RouteProtocol) nor on our devices for vni (flanneld's routes there
// are ours to replace) — default routes aside. weftd and `weftctl doctor`
// share it so they judge leases alike. Pure.
func NodeFacts(links []dataplane.Link, routes []dataplane.Route, vni uint32) (addrs []netip.Addr, foreign []subnet.Route) {
	ours := map[int]bool{}
	for _, l := range links {
		if l.Kind == "vxlan" && (l.Name == DeviceName(vni) || l.Name == DeviceNameV6(vni)) {
			ours[l.Index] = true
		}
		if l.Loopback {
			continue
		}
		for _, p := range l.Addrs {
			if !p.Addr().IsLinkLocalUnicast() && !p.Addr().IsLoopback() {
				addrs = append(addrs, p.Addr())
			}
		}
	}
	for _, r := range routes {
		if r.Protocol == RouteProtocol || ours[r.LinkIndex] || r.Dst.Bits() == 0 {
			continue
		}
		foreign = append(foreign, subnet.Route{Dst: r.Dst, Gw: r.Gw})
	}
	slices.SortFunc(foreign, func(x, y subnet.Route) int {
		if c := x.Dst.Addr().Compare(y.Dst.Addr()); c != 0 {
			return c
		}
		return x.Dst.Bits() - y.Dst.Bits()
	})
	return addrs, foreign
}
