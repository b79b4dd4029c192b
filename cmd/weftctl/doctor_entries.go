// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"fmt"
	"net/netip"
	"slices"

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
		local.Subnet, local.IPv6Subnet = v.own.Subnet, v.own.IPv6Subnet
		local.PublicIP, local.PublicIPv6 = v.own.Attrs.PublicIP, v.own.Attrs.PublicIPv6
		for _, data := range [][]byte{v.own.Attrs.BackendData, v.own.Attrs.BackendV6Data} {
			if d, err := subnet.DecodeVXLANData(data); err == nil {
				local.VTEPMACs = append(local.VTEPMACs, d.VtepMAC)
			}
		}
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
// usable device with what weftd's own planner (vxlan.Plan) wants for the
// peers in etcd.
func (v *nodeView) checkEntries(usable []*famView) {
	if len(usable) == 0 {
		return
	}
	local := vxlan.Local{}
	if v.own != nil {
		local.Own4, local.Own6 = v.own.Subnet, v.own.IPv6Subnet
	}
	for _, fv := range usable {
		if fv.fam == dataplane.IPv4 {
			local.Dev4 = fv.dev.Index
		} else {
			local.Dev6 = fv.dev.Index
		}
		if local.Underlay == 0 {
			local.Underlay = fv.dev.VXLAN.UnderlayIndex
		}
	}
	if v.cfg.Backend.DirectRouting {
		local.Direct = v.byIndex[local.Underlay].Addrs
	}
	peers, problems := vxlan.Plan(local, v.admit())
	for _, p := range problems {
		v.add(finding{Check: "lease", Subject: p.Subnet.String(), Problem: "unusable",
			Detail: fmt.Sprintf("peers skip this lease: %v", p.Err),
			Fix:    "the node that holds it rewrites it when its weftd restarts; if that node is gone, free it with `weftctl lease release`"})
	}
	for _, fv := range usable {
		var want []vxlan.PeerEntries
		for _, e := range peers {
			if dataplane.FamilyOf(e.Subnet.Addr()) == fv.fam {
				want = append(want, e)
			}
		}
		slices.SortFunc(want, func(a, b vxlan.PeerEntries) int { return a.Subnet.Addr().Compare(b.Subnet.Addr()) })
		own := local.Own4
		if fv.fam == dataplane.IPv6 {
			own = local.Own6
		}
		v.checkRoutes(fv, want, own)
		v.checkNeighs(fv, want)
		v.checkFDB(fv, want)
	}
}

func (v *nodeView) routeText(r dataplane.Route) string {
	s := r.Dst.String()
	if r.Gw.IsValid() {
		s += " via " + r.Gw.String()
	}
	s += " dev " + v.linkName(r.LinkIndex)
	if r.OnLink {
		s += " onlink"
	}
	return s
}

func sameRoute(a, b dataplane.Route) bool {
	return a.Dst == b.Dst && a.Gw == b.Gw && a.LinkIndex == b.LinkIndex && a.OnLink == b.OnLink
}

// checkRoutes: the observed routes are those on the device, those weft
// marked with its protocol and any to a wanted destination.
func (v *nodeView) checkRoutes(fv *famView, want []vxlan.PeerEntries, own netip.Prefix) {
	wanted := map[netip.Prefix]dataplane.Route{}
	for _, e := range want {
		wanted[e.Subnet] = e.Route
	}
	observed := map[netip.Prefix][]dataplane.Route{}
	var extra []dataplane.Route
	for _, r := range v.routes[fv.fam] {
		_, isWanted := wanted[r.Dst]
		ours := r.LinkIndex == fv.dev.Index || r.Protocol == vxlan.RouteProtocol
		// Kernel routes come with addresses (fe80::/64 on every IPv6 link):
		// the address check covers those.
		if r.Dst == own || (!isWanted && (!ours || r.Protocol == dataplane.RTProtoKernel)) {
			continue
		}
		observed[r.Dst] = append(observed[r.Dst], r)
		if !isWanted {
			extra = append(extra, r)
		}
	}
	for _, e := range want {
		w, obs := e.Route, observed[e.Subnet]
		fix := fmt.Sprintf("ip route replace %s proto %d", v.routeText(w), vxlan.RouteProtocol)
		switch i := slices.IndexFunc(obs, func(o dataplane.Route) bool { return sameRoute(o, w) }); {
		case len(obs) == 0:
			v.add(finding{Check: "route", Subject: w.Dst.String(), Problem: "missing",
				Detail: "no route " + v.routeText(w), Fix: fix})
		case i < 0:
			v.add(finding{Check: "route", Subject: w.Dst.String(), Problem: "wrong",
				Detail: fmt.Sprintf("route is %s, want %s", v.routeText(obs[0]), v.routeText(w)), Fix: fix})
		default:
			for j, o := range obs {
				if j != i && (o.LinkIndex == fv.dev.Index || o.Protocol == vxlan.RouteProtocol) {
					extra = append(extra, o)
				}
			}
		}
	}
	slices.SortFunc(extra, func(a, b dataplane.Route) int { return a.Dst.Addr().Compare(b.Dst.Addr()) })
	for _, r := range extra {
		v.add(finding{Check: "route", Subject: r.Dst.String(), Problem: "extra",
			Detail: fmt.Sprintf("route %s matches no peer lease", v.routeText(r)),
			Fix:    fmt.Sprintf("ip route del %s dev %s", r.Dst, v.linkName(r.LinkIndex))})
	}
}

func (v *nodeView) checkNeighs(fv *famView, want []vxlan.PeerEntries) {
	wanted := map[netip.Addr]bool{}
	have := map[netip.Addr]subnet.MAC{}
	for _, n := range fv.neighs {
		have[n.IP] = n.MAC
	}
	for _, e := range want {
		if e.Direct {
			continue
		}
		n := e.Neigh
		wanted[n.IP] = true
		fix := fmt.Sprintf("ip neigh replace %s lladdr %s dev %s nud permanent", n.IP, n.MAC, fv.name)
		switch mac, ok := have[n.IP]; {
		case !ok:
			v.add(finding{Check: "neighbour", Subject: n.IP.String(), Problem: "missing",
				Detail: fmt.Sprintf("no neighbour entry %s lladdr %s on %s (peer %s)", n.IP, n.MAC, fv.name, e.FDB.Dst), Fix: fix})
		case mac != n.MAC:
			v.add(finding{Check: "neighbour", Subject: n.IP.String(), Problem: "wrong",
				Detail: fmt.Sprintf("neighbour %s on %s has lladdr %s, want %s (peer %s)", n.IP, fv.name, mac, n.MAC, e.FDB.Dst), Fix: fix})
		}
	}
	for _, n := range sortedNeighs(fv.neighs) {
		if !wanted[n.IP] && dataplane.FamilyOf(n.IP) == fv.fam {
			v.add(finding{Check: "neighbour", Subject: n.IP.String(), Problem: "extra",
				Detail: fmt.Sprintf("neighbour %s lladdr %s on %s matches no peer lease", n.IP, n.MAC, fv.name),
				Fix:    fmt.Sprintf("ip neigh del %s dev %s", n.IP, fv.name)})
		}
	}
}

func sortedNeighs(ns []dataplane.Neigh) []dataplane.Neigh {
	out := slices.Clone(ns)
	slices.SortFunc(out, func(a, b dataplane.Neigh) int { return a.IP.Compare(b.IP) })
	return out
}

// checkFDB: the kernel keeps one destination per MAC on a VXLAN device
// for weft's entries; any other (MAC, destination) pair is extra.
func (v *nodeView) checkFDB(fv *famView, want []vxlan.PeerEntries) {
	matched := map[dataplane.FDBEntry]bool{}
	for _, e := range want {
		if e.Direct {
			continue
		}
		f := e.FDB
		f.LinkIndex = 0
		fix := fmt.Sprintf("bridge fdb replace %s dev %s dst %s self permanent", f.MAC, fv.name, f.Dst)
		var other []netip.Addr
		for _, o := range fv.fdb {
			o.LinkIndex = 0
			switch {
			case o == f:
				matched[o] = true
			case o.MAC == f.MAC:
				other = append(other, o.Dst)
			}
		}
		switch {
		case matched[f]:
		case len(other) > 0:
			matched[dataplane.FDBEntry{MAC: f.MAC, Dst: other[0]}] = true
			v.add(finding{Check: "fdb", Subject: f.MAC.String(), Problem: "wrong",
				Detail: fmt.Sprintf("FDB entry %s on %s points to %s, want %s (peer %s)", f.MAC, fv.name, other[0], f.Dst, e.Subnet), Fix: fix})
		default:
			v.add(finding{Check: "fdb", Subject: f.MAC.String(), Problem: "missing",
				Detail: fmt.Sprintf("no FDB entry %s dst %s on %s (peer %s)", f.MAC, f.Dst, fv.name, e.Subnet), Fix: fix})
		}
	}
	for _, o := range sortedFDB(fv.fdb) {
		o.LinkIndex = 0
		if !matched[o] {
			v.add(finding{Check: "fdb", Subject: o.MAC.String(), Problem: "extra",
				Detail: fmt.Sprintf("FDB entry %s dst %s on %s matches no peer lease", o.MAC, o.Dst, fv.name),
				Fix:    fmt.Sprintf("bridge fdb del %s dev %s dst %s self", o.MAC, fv.name, o.Dst)})
		}
	}
}

func sortedFDB(es []dataplane.FDBEntry) []dataplane.FDBEntry {
	out := slices.Clone(es)
	slices.SortFunc(out, func(a, b dataplane.FDBEntry) int {
		if c := slices.Compare(a.MAC[:], b.MAC[:]); c != 0 {
			return c
		}
		return a.Dst.Compare(b.Dst)
	})
	return out
}
