// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package dataplanetest

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/weft-net/weft/backend/dataplane"
)

// Addrs lists a link's addresses.
func (f *FakeDataplane) Addrs(index int) ([]netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.links[index]
	if l == nil {
		return nil, fmt.Errorf("list addresses of link %d: %w", index, ErrNoDevice)
	}
	return slices.Clone(l.addrs), nil
}

// AddAddr adds an address; an existing one is left alone.
func (f *FakeDataplane) AddAddr(index int, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("add addr %s dev %s", p, f.name(index)); err != nil {
		return err
	}
	l := f.links[index]
	if l == nil {
		return fmt.Errorf("add address %s to link %d: %w", p, index, ErrNoDevice)
	}
	if !slices.Contains(l.addrs, p) {
		l.addrs = append(l.addrs, p)
	}
	return nil
}

// DelAddr deletes an address.
func (f *FakeDataplane) DelAddr(index int, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("delete addr %s dev %s", p, f.name(index)); err != nil {
		return err
	}
	if l := f.links[index]; l != nil {
		l.addrs = slices.DeleteFunc(l.addrs, func(a netip.Prefix) bool { return a == p })
	}
	return nil
}

// Neighs lists a link's neighbour entries.
func (f *FakeDataplane) Neighs(index int) ([]dataplane.Neigh, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []dataplane.Neigh
	for k, n := range f.neighs {
		if k.link == index {
			out = append(out, n)
		}
	}
	return out, nil
}

// SetNeigh adds or replaces a neighbour entry.
func (f *FakeDataplane) SetNeigh(n dataplane.Neigh) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("set neigh %s lladdr %s dev %s", n.IP, n.MAC, f.name(n.LinkIndex)); err != nil {
		return err
	}
	if f.links[n.LinkIndex] == nil {
		return fmt.Errorf("set neighbour %s: %w", n.IP, ErrNoDevice)
	}
	f.neighs[neighKey{n.LinkIndex, n.IP}] = n
	f.notify(dataplane.Update{Kind: dataplane.NeighUpdate, Neigh: n})
	return nil
}

// DelNeigh deletes a neighbour entry.
func (f *FakeDataplane) DelNeigh(n dataplane.Neigh) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("delete neigh %s dev %s", n.IP, f.name(n.LinkIndex)); err != nil {
		return err
	}
	f.removeNeigh(n)
	return nil
}

func (f *FakeDataplane) removeNeigh(n dataplane.Neigh) {
	k := neighKey{n.LinkIndex, n.IP}
	if old, ok := f.neighs[k]; ok {
		delete(f.neighs, k)
		f.notify(dataplane.Update{Kind: dataplane.NeighUpdate, Deleted: true, Neigh: old})
	}
}

// FDB lists a link's FDB entries.
func (f *FakeDataplane) FDB(index int) ([]dataplane.FDBEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []dataplane.FDBEntry
	for _, e := range f.fdb {
		if e.LinkIndex == index {
			out = append(out, e)
		}
	}
	return out, nil
}

// SetFDB adds or replaces the entry of a MAC on a VXLAN link.
func (f *FakeDataplane) SetFDB(e dataplane.FDBEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("set fdb %s dst %s dev %s", e.MAC, e.Dst, f.name(e.LinkIndex)); err != nil {
		return err
	}
	if l := f.links[e.LinkIndex]; l == nil || l.VXLAN == nil {
		return fmt.Errorf("set fdb %s: %w", e.MAC, ErrNoDevice)
	}
	f.fdb[fdbKey{e.LinkIndex, e.MAC}] = e
	f.notify(dataplane.Update{Kind: dataplane.FDBUpdate, FDB: e})
	return nil
}

// DelFDB deletes an entry.
func (f *FakeDataplane) DelFDB(e dataplane.FDBEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("delete fdb %s dst %s dev %s", e.MAC, e.Dst, f.name(e.LinkIndex)); err != nil {
		return err
	}
	f.removeFDB(e)
	return nil
}

func (f *FakeDataplane) removeFDB(e dataplane.FDBEntry) {
	k := fdbKey{e.LinkIndex, e.MAC}
	if old, ok := f.fdb[k]; ok && (!e.Dst.IsValid() || old.Dst == e.Dst) {
		delete(f.fdb, k)
		f.notify(dataplane.Update{Kind: dataplane.FDBUpdate, Deleted: true, FDB: old})
	}
}

// Routes lists the routes of a family, including the connected routes of
// the addresses on up links (protocol kernel).
func (f *FakeDataplane) Routes(fam dataplane.Family) ([]dataplane.Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.routesLocked(fam), nil
}

func (f *FakeDataplane) routesLocked(fam dataplane.Family) []dataplane.Route {
	var out []dataplane.Route
	for _, r := range f.routes {
		if dataplane.FamilyOf(r.Dst.Addr()) == fam {
			out = append(out, r)
		}
	}
	for _, l := range f.links {
		for _, a := range l.addrs {
			if l.Up && dataplane.FamilyOf(a.Addr()) == fam && a.Bits() < a.Addr().BitLen() {
				out = append(out, dataplane.Route{Dst: a.Masked(), LinkIndex: l.Index, Protocol: dataplane.RTProtoKernel})
			}
		}
	}
	return out
}

// ReplaceRoute adds a route or replaces the one with the same destination
// and metric. Like the kernel, it refuses a link that is down and a gateway
// that no address of the link covers unless OnLink is set, and stores an
// IPv6 route without a metric at IPv6DefaultMetric.
func (f *FakeDataplane) ReplaceRoute(r dataplane.Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("replace route %s", routeText(r, f.name)); err != nil {
		return err
	}
	l := f.links[r.LinkIndex]
	switch {
	case l == nil:
		return fmt.Errorf("replace route %s: %w", r.Dst, ErrNoDevice)
	case !l.Up:
		return fmt.Errorf("replace route %s: %w", r.Dst, ErrNetDown)
	case r.Gw.IsValid() && !r.OnLink && !covers(l.addrs, r.Gw):
		return fmt.Errorf("replace route %s via %s: %w", r.Dst, r.Gw, ErrUnreachable)
	}
	if r.Protocol == 0 {
		r.Protocol = dataplane.RTProtoBoot
	}
	if r.Metric == 0 && r.Dst.Addr().Is6() {
		r.Metric = dataplane.IPv6DefaultMetric
	}
	r.Src = netip.Addr{}
	f.routes[routeKey{r.Dst, r.Metric}] = r
	f.notify(dataplane.Update{Kind: dataplane.RouteUpdate, Route: r})
	return nil
}

func covers(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Bits() < p.Addr().BitLen() && p.Masked().Contains(a) {
			return true
		}
	}
	return false
}

// DelRoute deletes the route to Dst whose LinkIndex, Protocol and Metric
// match (those set): like the kernel, of several matches (Metric 0) it
// deletes the one with the lowest metric.
func (f *FakeDataplane) DelRoute(r dataplane.Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := "delete route %s dev %s"
	args := []any{r.Dst, f.name(r.LinkIndex)}
	if r.Metric != 0 {
		call += " metric %d"
		args = append(args, r.Metric)
	}
	if err := f.call(call, args...); err != nil {
		return err
	}
	f.removeRoute(r)
	return nil
}

func (f *FakeDataplane) removeRoute(r dataplane.Route) {
	var old dataplane.Route
	found := false
	for k, o := range f.routes {
		if k.dst != r.Dst || (r.LinkIndex != 0 && o.LinkIndex != r.LinkIndex) || (r.Protocol != 0 && o.Protocol != r.Protocol) ||
			(r.Metric != 0 && o.Metric != r.Metric) {
			continue
		}
		if !found || o.Metric < old.Metric {
			old, found = o, true
		}
	}
	if !found {
		return
	}
	delete(f.routes, routeKey{old.Dst, old.Metric})
	f.notify(dataplane.Update{Kind: dataplane.RouteUpdate, Deleted: true, Route: old})
}

// RouteGet does a longest-prefix match over the routes of dst's family.
func (f *FakeDataplane) RouteGet(dst netip.Addr) (dataplane.Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	best := dataplane.Route{Dst: netip.PrefixFrom(dst, 0)}
	found := false
	for _, r := range f.routesLocked(dataplane.FamilyOf(dst)) {
		if r.Dst.Contains(dst) && (!found || r.Dst.Bits() > best.Dst.Bits() ||
			(r.Dst.Bits() == best.Dst.Bits() && r.Metric < best.Metric)) {
			best, found = r, true
		}
	}
	if !found {
		return dataplane.Route{}, fmt.Errorf("route to %s: %w", dst, dataplane.ErrNotFound)
	}
	for _, a := range f.links[best.LinkIndex].addrs {
		if a.Addr().Is4() == dst.Is4() && !a.Addr().IsLinkLocalUnicast() {
			best.Src = a.Addr()
			break
		}
	}
	best.Dst = netip.PrefixFrom(dst, dst.BitLen())
	return best, nil
}

// DefaultRouteLink returns the link of the family's default route.
func (f *FakeDataplane) DefaultRouteLink(fam dataplane.Family) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	best, found := dataplane.Route{}, false
	for _, r := range f.routesLocked(fam) {
		if r.Dst.Bits() == 0 && (!found || r.Metric < best.Metric) {
			best, found = r, true
		}
	}
	if !found {
		return 0, fmt.Errorf("%s default route: %w", fam, dataplane.ErrNotFound)
	}
	return best.LinkIndex, nil
}
