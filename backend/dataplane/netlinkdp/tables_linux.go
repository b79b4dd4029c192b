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

// Neighs lists the permanent IPv4 and IPv6 neighbour entries of a link.
func (d *Dataplane) Neighs(index int) ([]dataplane.Neigh, error) {
	t := dumpTable{kind: 'n', link: index}
	var out []dataplane.Neigh
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		// Both families into one slice: an attempt of the IPv6 dump starts
		// again from the IPv4 entries.
		n4 := len(out)
		start := func() []dataplane.Neigh { return out[:n4] }
		if fam == unix.AF_INET {
			start = func() []dataplane.Neigh { return sized[dataplane.Neigh](d, t) }
		}
		ns, err := eachNeigh(d, index, fam, start, func(acc []dataplane.Neigh, n *neighMsg) []dataplane.Neigh {
			if n.state&unix.NUD_PERMANENT != 0 {
				acc = append(acc, dataplane.Neigh{LinkIndex: n.index, IP: n.ip, MAC: n.mac})
			}
			return acc
		})
		if err != nil {
			return nil, fmt.Errorf("list neighbours of link %d: %w", index, err)
		}
		out = ns
	}
	d.sizes.keep(t, len(out))
	return out, nil
}

// SetNeigh adds or replaces a permanent neighbour entry.
func (d *Dataplane) SetNeigh(n dataplane.Neigh) error {
	if err := d.req.neigh(false, false, n.LinkIndex, n.IP, n.MAC); err != nil {
		return fmt.Errorf("set neighbour %s lladdr %s dev %d: %w", n.IP, n.MAC, n.LinkIndex, err)
	}
	d.sizes.grow(dumpTable{kind: 'n', link: n.LinkIndex}, 1)
	return nil
}

// DelNeigh deletes a neighbour entry; a missing one is not an error.
func (d *Dataplane) DelNeigh(n dataplane.Neigh) error {
	if err := d.req.neigh(true, false, n.LinkIndex, n.IP, n.MAC); err != nil && !gone(err) {
		return fmt.Errorf("delete neighbour %s dev %d: %w", n.IP, n.LinkIndex, err)
	}
	d.sizes.grow(dumpTable{kind: 'n', link: n.LinkIndex}, -1)
	return nil
}

// FDB lists the entries with a remote destination of a VXLAN link.
func (d *Dataplane) FDB(index int) ([]dataplane.FDBEntry, error) {
	t := dumpTable{kind: 'f', link: index}
	out, err := eachNeigh(d, index, unix.AF_BRIDGE, func() []dataplane.FDBEntry { return sized[dataplane.FDBEntry](d, t) },
		func(acc []dataplane.FDBEntry, n *neighMsg) []dataplane.FDBEntry {
			if n.ip.IsValid() && n.index == index {
				acc = append(acc, dataplane.FDBEntry{LinkIndex: n.index, MAC: n.mac, Dst: n.ip})
			}
			return acc
		})
	if err != nil {
		return nil, fmt.Errorf("list fdb of link %d: %w", index, err)
	}
	d.sizes.keep(t, len(out))
	return out, nil
}

// SetFDB adds or replaces the permanent entry of a MAC (`bridge fdb replace`).
func (d *Dataplane) SetFDB(e dataplane.FDBEntry) error {
	if err := d.req.neigh(false, true, e.LinkIndex, e.Dst, e.MAC); err != nil {
		return fmt.Errorf("set fdb %s dst %s dev %d: %w", e.MAC, e.Dst, e.LinkIndex, err)
	}
	d.sizes.grow(dumpTable{kind: 'f', link: e.LinkIndex}, 1)
	return nil
}

// DelFDB deletes one MAC → destination entry; a missing one is not an error.
func (d *Dataplane) DelFDB(e dataplane.FDBEntry) error {
	if err := d.req.neigh(true, true, e.LinkIndex, e.Dst, e.MAC); err != nil && !gone(err) {
		return fmt.Errorf("delete fdb %s dst %s dev %d: %w", e.MAC, e.Dst, e.LinkIndex, err)
	}
	d.sizes.grow(dumpTable{kind: 'f', link: e.LinkIndex}, -1)
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
	t := dumpTable{kind: 'r', family: uint8(familyOf(f))}
	out, err := collectRoutes(d, familyOf(f), unix.RTN_UNICAST, func() []dataplane.Route { return sized[dataplane.Route](d, t) },
		func(out []dataplane.Route, r *routeMsg) []dataplane.Route {
			if !r.multipath {
				out = append(out, r.route)
			}
			return out
		})
	if err != nil {
		return nil, fmt.Errorf("list %s routes: %w", f, err)
	}
	d.sizes.keep(t, len(out))
	return out, nil
}

// routeTable is the dump table of r's family.
func routeTable(r dataplane.Route) dumpTable {
	if r.Dst.Addr().Is4() {
		return dumpTable{kind: 'r', family: unix.AF_INET}
	}
	return dumpTable{kind: 'r', family: unix.AF_INET6}
}

// ReplaceRoute adds or replaces a main-table route.
func (d *Dataplane) ReplaceRoute(r dataplane.Route) error {
	if err := d.req.route(false, r); err != nil {
		return fmt.Errorf("replace route %s via %s dev %d metric %d: %w", r.Dst, r.Gw, r.LinkIndex, r.Metric, err)
	}
	d.sizes.grow(routeTable(r), 1)
	return nil
}

// DelRoute deletes the main-table route matching Dst, LinkIndex, Protocol
// and Metric (whatever its gateway); a missing one is not an error.
func (d *Dataplane) DelRoute(r dataplane.Route) error {
	if err := d.req.route(true, r); err != nil && !gone(err) {
		return fmt.Errorf("delete route %s dev %d metric %d: %w", r.Dst, r.LinkIndex, r.Metric, err)
	}
	d.sizes.grow(routeTable(r), -1)
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
	best, err := collectRoutes(d, familyOf(f), unix.RTN_UNSPEC, func() pick { return pick{} }, func(best pick, r *routeMsg) pick {
		if r.route.Dst.Bits() == 0 && r.route.LinkIndex > 0 && (best.link == 0 || int(r.route.Metric) < best.prio) {
			return pick{r.route.LinkIndex, int(r.route.Metric)}
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
