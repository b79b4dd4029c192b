// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/weft-net/weft/backend/dataplane"
)

// Blackhole is a main-table route of type blackhole: the kernel drops what
// it routes (IPv6 reports it on the loopback device). Protocol and Metric
// tell whose route it is.
type Blackhole struct {
	Dst      netip.Prefix
	Protocol uint8
	Metric   uint32
}

func (b Blackhole) route() *netlink.Route {
	return &netlink.Route{
		Dst: ipNetOf(b.Dst), Type: unix.RTN_BLACKHOLE, Table: unix.RT_TABLE_MAIN,
		Protocol: netlink.RouteProtocol(b.Protocol), Priority: int(b.Metric),
	}
}

// Blackholes lists the blackhole routes of the main table for one family.
func (d *Dataplane) Blackholes(f dataplane.Family) ([]Blackhole, error) {
	out, err := collectRoutes(d, familyOf(f), unix.RTN_BLACKHOLE, func() []Blackhole { return nil },
		func(acc []Blackhole, r *routeMsg) []Blackhole {
			return append(acc, Blackhole{Dst: r.route.Dst, Protocol: r.route.Protocol, Metric: r.route.Metric})
		})
	if err != nil {
		return nil, fmt.Errorf("list %s blackhole routes: %w", f, err)
	}
	return out, nil
}

// ReplaceBlackhole adds a blackhole route, replacing the main-table route
// with the same destination and metric.
func (d *Dataplane) ReplaceBlackhole(b Blackhole) error {
	if err := d.h.RouteReplace(b.route()); err != nil {
		return fmt.Errorf("replace blackhole route %s metric %d: %w", b.Dst, b.Metric, err)
	}
	return nil
}

// DelBlackhole deletes the blackhole route matching destination, protocol
// and metric; a missing one is not an error.
func (d *Dataplane) DelBlackhole(b Blackhole) error {
	if err := d.h.RouteDel(b.route()); err != nil && !gone(err) {
		return fmt.Errorf("delete blackhole route %s metric %d: %w", b.Dst, b.Metric, err)
	}
	return nil
}
