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

func neighOf(n *netlink.Neigh) dataplane.Neigh {
	return dataplane.Neigh{LinkIndex: n.LinkIndex, IP: addrOf(n.IP), MAC: macOf(n.HardwareAddr)}
}

func fdbOf(n *netlink.Neigh) dataplane.FDBEntry {
	return dataplane.FDBEntry{LinkIndex: n.LinkIndex, MAC: macOf(n.HardwareAddr), Dst: addrOf(n.IP)}
}

// Neighs lists the permanent IPv4 and IPv6 neighbour entries of a link.
func (d *Dataplane) Neighs(index int) ([]dataplane.Neigh, error) {
	var out []dataplane.Neigh
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		ns, err := eachNeigh(d, index, fam, func(acc []dataplane.Neigh, n *netlink.Neigh) []dataplane.Neigh {
			if n.State&netlink.NUD_PERMANENT != 0 {
				acc = append(acc, neighOf(n))
			}
			return acc
		})
		if err != nil {
			return nil, fmt.Errorf("list neighbours of link %d: %w", index, err)
		}
		out = append(out, ns...)
	}
	return out, nil
}

// SetNeigh adds or replaces a permanent neighbour entry.
func (d *Dataplane) SetNeigh(n dataplane.Neigh) error {
	if err := d.req.neigh(false, false, n.LinkIndex, n.IP, n.MAC); err != nil {
		return fmt.Errorf("set neighbour %s lladdr %s dev %d: %w", n.IP, n.MAC, n.LinkIndex, err)
	}
	return nil
}

// DelNeigh deletes a neighbour entry; a missing one is not an error.
func (d *Dataplane) DelNeigh(n dataplane.Neigh) error {
	if err := d.req.neigh(true, false, n.LinkIndex, n.IP, n.MAC); err != nil && !gone(err) {
		return fmt.Errorf("delete neighbour %s dev %d: %w", n.IP, n.LinkIndex, err)
	}
	return nil
}

// FDB lists the entries with a remote destination of a VXLAN link.
func (d *Dataplane) FDB(index int) ([]dataplane.FDBEntry, error) {
	out, err := eachNeigh(d, index, unix.AF_BRIDGE, func(acc []dataplane.FDBEntry, n *netlink.Neigh) []dataplane.FDBEntry {
		if n.IP != nil && n.LinkIndex == index {
			acc = append(acc, fdbOf(n))
		}
		return acc
	})
	if err != nil {
		return nil, fmt.Errorf("list fdb of link %d: %w", index, err)
	}
	return out, nil
}

// SetFDB adds or replaces the permanent entry of a MAC (`bridge fdb replace`).
func (d *Dataplane) SetFDB(e dataplane.FDBEntry) error {
	if err := d.req.neigh(false, true, e.LinkIndex, e.Dst, e.MAC); err != nil {
		return fmt.Errorf("set fdb %s dst %s dev %d: %w", e.MAC, e.Dst, e.LinkIndex, err)
	}
	return nil
}

// DelFDB deletes one MAC → destination entry; a missing one is not an error.
func (d *Dataplane) DelFDB(e dataplane.FDBEntry) error {
	if err := d.req.neigh(true, true, e.LinkIndex, e.Dst, e.MAC); err != nil && !gone(err) {
		return fmt.Errorf("delete fdb %s dst %s dev %d: %w", e.MAC, e.Dst, e.LinkIndex, err)
	}
	return nil
}

func routeOf(r *netlink.Route) dataplane.Route {
	return dataplane.Route{
		Dst: prefixOf(r.Dst), Gw: addrOf(r.Gw), LinkIndex: r.LinkIndex,
		OnLink: r.Flags&int(netlink.FLAG_ONLINK) != 0, Protocol: uint8(r.Protocol), Metric: uint32(r.Priority),
		Src: addrOf(r.Src),
	}
}

// Routes lists the unicast single-path routes of the main table.
func (d *Dataplane) Routes(f dataplane.Family) ([]dataplane.Route, error) {
	filter := &netlink.Route{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST}
	out, err := collectRoutes(d, familyOf(f), filter, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_TYPE,
		func(out []dataplane.Route, r *netlink.Route) []dataplane.Route {
			if len(r.MultiPath) == 0 {
				out = append(out, routeOf(r))
			}
			return out
		})
	if err != nil {
		return nil, fmt.Errorf("list %s routes: %w", f, err)
	}
	return out, nil
}

// ReplaceRoute adds or replaces a main-table route.
func (d *Dataplane) ReplaceRoute(r dataplane.Route) error {
	if err := d.req.route(false, r); err != nil {
		return fmt.Errorf("replace route %s via %s dev %d metric %d: %w", r.Dst, r.Gw, r.LinkIndex, r.Metric, err)
	}
	return nil
}

// DelRoute deletes the main-table route matching Dst, LinkIndex, Protocol
// and Metric (whatever its gateway); a missing one is not an error.
func (d *Dataplane) DelRoute(r dataplane.Route) error {
	if err := d.req.route(true, r); err != nil && !gone(err) {
		return fmt.Errorf("delete route %s dev %d metric %d: %w", r.Dst, r.LinkIndex, r.Metric, err)
	}
	return nil
}

// RouteGet returns the route the kernel would use for dst.
func (d *Dataplane) RouteGet(dst netip.Addr) (dataplane.Route, error) {
	rs, err := d.h.RouteGet(ipOf(dst))
	if err != nil {
		if errorsIsUnreachable(err) {
			return dataplane.Route{}, fmt.Errorf("route to %s: %w", dst, dataplane.ErrNotFound)
		}
		return dataplane.Route{}, fmt.Errorf("get route to %s: %w", dst, err)
	}
	if len(rs) == 0 {
		return dataplane.Route{}, fmt.Errorf("route to %s: %w", dst, dataplane.ErrNotFound)
	}
	r := routeOf(&rs[0])
	r.Dst = netip.PrefixFrom(dst, dst.BitLen())
	return r, nil
}

// DefaultRouteLink returns the link of the lowest-metric default route.
func (d *Dataplane) DefaultRouteLink(f dataplane.Family) (int, error) {
	type pick struct{ link, prio int }
	filter := &netlink.Route{Table: unix.RT_TABLE_MAIN}
	best, err := collectRoutes(d, familyOf(f), filter, netlink.RT_FILTER_TABLE, func(best pick, r *netlink.Route) pick {
		if p := prefixOf(r.Dst); (r.Dst == nil || p.Bits() == 0) && r.LinkIndex > 0 &&
			(best.link == 0 || r.Priority < best.prio) {
			return pick{r.LinkIndex, r.Priority}
		}
		return best
	})
	if err != nil {
		return 0, fmt.Errorf("list %s routes: %w", f, err)
	}
	if best.link == 0 {
		return 0, fmt.Errorf("%s default route: %w", f, dataplane.ErrNotFound)
	}
	return best.link, nil
}
