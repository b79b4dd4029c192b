// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/backend/vxlan"
	"github.com/weft-net/weft/subnet"
)

// admit runs lease admission as weftd does on this node (the etcd
// endpoints aside: doctor does not resolve them), reports each rejected
// lease, and returns the leases weftd programs.
func (v *nodeView) admit() []subnet.Lease {
	var local subnet.Local
	if v.own != nil {
		local = subnet.LocalOf(*v.own)
	}
	local.Addrs, local.Routes = vxlan.NodeFacts(v.links, slices.Concat(v.routes[dataplane.IPv4], v.routes[dataplane.IPv6]),
		v.cfg.Backend.VNI)
	res := subnet.Admit(v.cfg, local, v.leases)
	for _, r := range res.Rejected {
		if r.Reason == subnet.ReasonOutsideNetwork || r.Reason == subnet.ReasonSubnetLen {
			continue // the config check reports these as misfits, with their own fix
		}
		v.add(finding{Check: "lease", Subject: r.Lease.Key(), Problem: "rejected",
			Detail: fmt.Sprintf("weftd does not program this lease (%s): %s", r.Reason, r.Detail),
			Fix:    "if the key is stray, delete it (etcdctl del <prefix>/subnets/" + r.Lease.Key() + "); troubleshooting.md explains each reason"})
	}
	for _, l := range res.Admitted {
		if len(l.Attrs.BackendData) > 0 || len(l.Attrs.BackendV6Data) > 0 {
			v.admitted++ // a reservation without data yet is no peer
		}
	}
	return res.Admitted
}

// checkEntries compares the neighbour, FDB and route entries of every
// usable device with what weftd wants for the peers in etcd, through
// weftd's own planner and differ (vxlan.Check): each operation weftd
// would apply is a finding.
func (v *nodeView) checkEntries(usable []*famView) {
	if len(usable) == 0 {
		return
	}
	local := vxlan.Local{}
	if v.own != nil {
		local.Own4, local.Own6 = v.own.Subnet, v.own.IPv6Subnet
	}
	var kernel vxlan.Tables
	for _, fv := range usable {
		if fv.fam == dataplane.IPv4 {
			local.Dev4 = fv.dev.Index
		} else {
			local.Dev6 = fv.dev.Index
		}
		if local.Underlay == 0 {
			local.Underlay = fv.dev.VXLAN.UnderlayIndex
		}
		kernel.Neighs = append(kernel.Neighs, fv.neighs...)
		kernel.FDB = append(kernel.FDB, fv.fdb...)
	}
	if v.cfg.Backend.DirectRouting {
		local.Direct = v.byIndex[local.Underlay].Addrs
	}
	kernel.Routes = slices.Concat(v.routes[dataplane.IPv4], v.routes[dataplane.IPv6])
	admitted := v.admit()
	ops, problems := vxlan.Check(local, admitted, kernel)
	shadows := vxlan.Shadowed(local, admitted, kernel)
	for _, p := range problems {
		v.add(finding{Check: "lease", Subject: p.Subnet.String(), Problem: "unusable",
			Detail: fmt.Sprintf("peers skip this lease: %v", p.Err),
			Fix:    "the node that holds it rewrites it when its weftd restarts; if that node is gone, free it with `weftctl lease release`"})
	}
	for _, fv := range usable {
		v.checkRoutes(fv, ops)
		v.checkShadows(fv, shadows)
		v.checkNeighs(fv, ops)
		v.checkFDB(fv, ops)
	}
}

// routeText renders a route as `ip route` shows it, weft's protocol left
// out.
func (v *nodeView) routeText(r dataplane.Route) string { return v.routeSpec(r, false) }

// routeSpec renders a route as `ip route` reads it, with its protocol when
// it is not weft's or proto is set.
func (v *nodeView) routeSpec(r dataplane.Route, proto bool) string {
	s := r.Dst.String()
	if r.Gw.IsValid() {
		s += " via " + r.Gw.String()
	}
	s += " dev " + v.linkName(r.LinkIndex)
	if r.OnLink {
		s += " onlink"
	}
	if proto || r.Protocol != vxlan.RouteProtocol {
		s += " proto " + strconv.Itoa(int(r.Protocol))
	}
	if r.Metric != 0 {
		s += " metric " + strconv.FormatUint(uint64(r.Metric), 10)
	}
	return s
}

// delRouteCmd deletes exactly r: by its protocol and metric, since the
// kernel can hold weft's route and an older form to one destination, and a
// delete without a metric removes the lowest-metric match.
func (v *nodeView) delRouteCmd(r dataplane.Route) string {
	return fmt.Sprintf("ip route del %s dev %s proto %d metric %d", r.Dst, v.linkName(r.LinkIndex), r.Protocol, r.Metric)
}

// opsOf returns the operations of kind k that keep selects, in the order
// of subject (the peer subnet for adds, the entry for deletions).
func opsOf(ops []vxlan.Op, k vxlan.OpKind, keep func(vxlan.Op) bool, subject func(vxlan.Op) netip.Addr) []vxlan.Op {
	var out []vxlan.Op
	for _, op := range ops {
		if op.Kind == k && keep(op) {
			out = append(out, op)
		}
	}
	slices.SortStableFunc(out, func(a, b vxlan.Op) int { return subject(a).Compare(subject(b)) })
	return out
}

func routeDst(op vxlan.Op) netip.Addr { return op.Route.Dst.Addr() }
func neighIP(op vxlan.Op) netip.Addr  { return op.Neigh.IP }

// checkRoutes: a route weftd would add is missing, or wrong when another
// route to its destination is in the way (weftd adds its own, then deletes
// the other if it owns it); a route of weft's it would delete is extra, or
// an older form when weft's own route to its destination is in place.
func (v *nodeView) checkRoutes(fv *famView, ops []vxlan.Op) {
	inFam := func(op vxlan.Op) bool { return dataplane.FamilyOf(op.Route.Dst.Addr()) == fv.fam }
	dels := map[netip.Prefix][]dataplane.Route{}
	for _, op := range opsOf(ops, vxlan.OpDelRoute, inFam, routeDst) {
		dels[op.Route.Dst] = append(dels[op.Route.Dst], op.Route)
	}
	replaced := map[netip.Prefix]bool{}
	for _, op := range opsOf(ops, vxlan.OpReplaceRoute, inFam, routeDst) {
		w := op.Route
		replaced[w.Dst] = true
		fix := "ip route replace " + v.routeSpec(w, true)
		for _, r := range dels[w.Dst] {
			fix += ", then " + v.delRouteCmd(r)
		}
		var have []string
		for _, r := range v.routes[fv.fam] {
			if r.Dst == w.Dst {
				have = append(have, v.routeText(r))
			}
		}
		if len(have) == 0 {
			v.add(finding{Check: "route", Subject: w.Dst.String(), Problem: "missing",
				Detail: "no route " + v.routeText(w), Fix: fix})
			continue
		}
		v.add(finding{Check: "route", Subject: w.Dst.String(), Problem: "wrong",
			Detail: fmt.Sprintf("route is %s, want %s", strings.Join(have, " and "), v.routeText(w)), Fix: fix})
	}
	for _, op := range opsOf(ops, vxlan.OpDelRoute, inFam, routeDst) {
		r := op.Route
		if replaced[r.Dst] {
			continue // reported as wrong
		}
		detail := fmt.Sprintf("route %s matches no peer lease", v.routeText(r))
		if w, ok := v.ownRoute(fv, r.Dst); ok {
			detail = fmt.Sprintf("route %s is an older form of weft's route %s, which is in place", v.routeText(r), v.routeText(w))
		}
		v.add(finding{Check: "route", Subject: r.Dst.String(), Problem: "extra", Detail: detail, Fix: v.delRouteCmd(r)})
	}
}

// ownRoute returns weft's route in its current form to dst, if the kernel
// holds it.
func (v *nodeView) ownRoute(fv *famView, dst netip.Prefix) (dataplane.Route, bool) {
	for _, r := range v.routes[fv.fam] {
		if r.Dst == dst && r.Protocol == vxlan.RouteProtocol && r.Metric == vxlan.RouteMetric(dst) {
			return r, true
		}
	}
	return dataplane.Route{}, false
}

// checkShadows: a route of another owner with a lower metric than weft's
// to a peer subnet carries the peer's traffic instead of weft's route.
// weftd leaves it alone (it is not weft's); before weft gave its routes a
// metric, its metric-0 replace overwrote such a route.
func (v *nodeView) checkShadows(fv *famView, shadows []vxlan.Shadow) {
	for _, s := range shadows {
		if dataplane.FamilyOf(s.By.Dst.Addr()) != fv.fam {
			continue
		}
		v.add(finding{Check: "route", Subject: s.By.Dst.String(), Problem: "shadowed",
			Detail: fmt.Sprintf("route %s, not weft's, has a lower metric than weft's %s and carries the peer's traffic",
				v.routeText(s.By), v.routeText(s.Want)),
			Fix: "if nothing on this node needs it: " + v.delRouteCmd(s.By)})
	}
}

func (v *nodeView) checkNeighs(fv *famView, ops []vxlan.Op) {
	have := map[netip.Addr]subnet.MAC{}
	for _, n := range fv.neighs {
		have[n.IP] = n.MAC
	}
	onDev := func(op vxlan.Op) bool { return op.Neigh.LinkIndex == fv.dev.Index }
	for _, op := range opsOf(ops, vxlan.OpSetNeigh, onDev, routeDst) {
		n := op.Neigh
		fix := fmt.Sprintf("ip neigh replace %s lladdr %s dev %s nud permanent", n.IP, n.MAC, fv.name)
		if mac, ok := have[n.IP]; ok {
			v.add(finding{Check: "neighbour", Subject: n.IP.String(), Problem: "wrong",
				Detail: fmt.Sprintf("neighbour %s on %s has lladdr %s, want %s (peer %s)", n.IP, fv.name, mac, n.MAC, op.FDB.Dst), Fix: fix})
		} else {
			v.add(finding{Check: "neighbour", Subject: n.IP.String(), Problem: "missing",
				Detail: fmt.Sprintf("no neighbour entry %s lladdr %s on %s (peer %s)", n.IP, n.MAC, fv.name, op.FDB.Dst), Fix: fix})
		}
	}
	for _, op := range opsOf(ops, vxlan.OpDelNeigh, onDev, neighIP) {
		n := op.Neigh
		v.add(finding{Check: "neighbour", Subject: n.IP.String(), Problem: "extra",
			Detail: fmt.Sprintf("neighbour %s lladdr %s on %s matches no peer lease", n.IP, n.MAC, fv.name),
			Fix:    fmt.Sprintf("ip neigh del %s dev %s", n.IP, fv.name)})
	}
}

// checkFDB: the kernel keeps one destination per MAC on a VXLAN device
// for weft's entries; any other (MAC, destination) pair is extra.
func (v *nodeView) checkFDB(fv *famView, ops []vxlan.Op) {
	onDev := func(op vxlan.Op) bool { return op.FDB.LinkIndex == fv.dev.Index }
	for _, op := range opsOf(ops, vxlan.OpSetFDB, onDev, routeDst) {
		f := op.FDB
		fix := fmt.Sprintf("bridge fdb replace %s dev %s dst %s self permanent", f.MAC, fv.name, f.Dst)
		peer := ""
		if op.Route.Dst.IsValid() {
			peer = fmt.Sprintf(" (peer %s)", op.Route.Dst)
		}
		i := slices.IndexFunc(fv.fdb, func(o dataplane.FDBEntry) bool { return o.MAC == f.MAC })
		if i < 0 {
			v.add(finding{Check: "fdb", Subject: f.MAC.String(), Problem: "missing",
				Detail: fmt.Sprintf("no FDB entry %s dst %s on %s%s", f.MAC, f.Dst, fv.name, peer), Fix: fix})
			continue
		}
		v.add(finding{Check: "fdb", Subject: f.MAC.String(), Problem: "wrong",
			Detail: fmt.Sprintf("FDB entry %s on %s points to %s, want %s%s", f.MAC, fv.name, fv.fdb[i].Dst, f.Dst, peer), Fix: fix})
	}
	var dels []dataplane.FDBEntry
	for _, op := range ops {
		if op.Kind == vxlan.OpDelFDB && onDev(op) {
			dels = append(dels, op.FDB)
		}
	}
	slices.SortFunc(dels, func(a, b dataplane.FDBEntry) int {
		if c := slices.Compare(a.MAC[:], b.MAC[:]); c != 0 {
			return c
		}
		return a.Dst.Compare(b.Dst)
	})
	for _, o := range dels {
		v.add(finding{Check: "fdb", Subject: o.MAC.String(), Problem: "extra",
			Detail: fmt.Sprintf("FDB entry %s dst %s on %s matches no peer lease", o.MAC, o.Dst, fv.name),
			Fix:    fmt.Sprintf("bridge fdb del %s dev %s dst %s self", o.MAC, fv.name, o.Dst)})
	}
}
