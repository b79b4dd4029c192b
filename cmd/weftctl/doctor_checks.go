// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/subnetenv"
)

// checkLeases looks at the lease set as a whole: duplicate public IPs,
// overlapping subnets and leases that do not fit the config.
func (v *nodeView) checkLeases() {
	v.duplicates("PublicIP", func(l subnet.Lease) netip.Addr { return l.Attrs.PublicIP })
	v.duplicates("PublicIPv6", func(l subnet.Lease) netip.Addr { return l.Attrs.PublicIPv6 })
	v.overlaps(func(l subnet.Lease) netip.Prefix { return l.Subnet })
	v.overlaps(func(l subnet.Lease) netip.Prefix { return l.IPv6Subnet })
	for _, l := range v.leases {
		if r := orphanReason(v.cfg, l); r != "" {
			v.add(finding{Check: "lease", Subject: l.Key(), Problem: "misfit",
				Detail: fmt.Sprintf("lease of %s does not fit the network config: %s", orDash(addrText(l.Attrs.PublicIP)), r),
				Fix:    fmt.Sprintf("its node takes a new subnet when weftd restarts; free it with `weftctl %s %s`", releaseVerb(l), l.Subnet)})
		}
	}
}

func (v *nodeView) duplicates(field string, ip func(subnet.Lease) netip.Addr) {
	by := map[netip.Addr][]string{}
	var order []netip.Addr
	for _, l := range v.leases {
		a := ip(l)
		if !a.IsValid() {
			continue
		}
		if by[a] == nil {
			order = append(order, a)
		}
		by[a] = append(by[a], fmt.Sprintf("%s (%s)", l.Subnet, holdKind(l)))
	}
	for _, a := range order {
		if len(by[a]) < 2 {
			continue
		}
		v.add(finding{Check: "leases", Subject: a.String(), Problem: "duplicate",
			Detail: fmt.Sprintf("%s %s appears in %d leases: %s", field, a, len(by[a]), strings.Join(by[a], ", ")),
			Fix:    "a node uses one subnet: keep the one its subnet.env names and free the others with `weftctl lease release SUBNET` (or `weftctl unreserve SUBNET`)"})
	}
}

// overlaps reports leases whose subnets overlap. Prefixes either nest or
// are disjoint, so after sorting by address (then length) a lease overlaps
// an earlier one exactly when the earlier prefix reaching furthest
// contains its address. O(n log n).
func (v *nodeView) overlaps(sn func(subnet.Lease) netip.Prefix) {
	ls := slices.DeleteFunc(slices.Clone(v.leases), func(l subnet.Lease) bool { return !sn(l).IsValid() })
	slices.SortFunc(ls, func(a, b subnet.Lease) int {
		if c := sn(a).Addr().Compare(sn(b).Addr()); c != 0 {
			return c
		}
		return sn(a).Bits() - sn(b).Bits()
	})
	if len(ls) == 0 {
		return
	}
	open := ls[0]
	for i := 1; i < len(ls); i++ {
		if !sn(open).Contains(sn(ls[i]).Addr()) {
			// Disjoint and later: it ends after open, so it becomes the widest.
			open = ls[i]
			continue
		}
		v.add(finding{Check: "leases", Subject: sn(open).String() + " " + sn(ls[i]).String(), Problem: "overlap",
			Detail: fmt.Sprintf("%s (%s) and %s (%s) overlap: both nodes claim the same pod addresses",
				open.Key(), orDash(addrText(open.Attrs.PublicIP)), ls[i].Key(), orDash(addrText(ls[i].Attrs.PublicIP))),
			Fix: fmt.Sprintf("free one of them with `weftctl %s %s`", releaseVerb(ls[i]), ls[i].Subnet)})
	}
}

// checkOwn checks our lease: present, not expiring, publishing our VTEP.
func (v *nodeView) checkOwn() {
	if v.own == nil {
		f := finding{Check: "lease", Subject: orDash(addrText(v.publicIP)), Problem: "missing",
			Fix: "check that weftd runs and reaches etcd (its log says why it holds no lease); `weftctl leases` shows who holds what"}
		if v.publicIP.IsValid() {
			f.Detail = fmt.Sprintf("no lease in etcd has PublicIP %s", v.publicIP)
		} else {
			f.Detail = "cannot tell this node's lease: no VXLAN device, no --public-ip and no usable subnet.env"
		}
		v.add(f)
		return
	}
	l := v.own
	switch {
	case l.Reserved():
	case errors.Is(v.ttlErr, subnet.ErrLeaseExpired):
		v.add(finding{Check: "lease", Subject: l.Key(), Problem: "expired",
			Detail: fmt.Sprintf("our etcd lease %s has expired", leaseIDString(l.LeaseID)),
			Fix:    "check that weftd runs: it re-claims the subnet while it is free"})
	case v.ttl < v.flags.renewMargin:
		ttl := "its TTL"
		if v.granted > 0 {
			ttl = "its TTL of " + v.granted.String()
		}
		v.add(finding{Check: "lease", Subject: l.Key(), Problem: "expiring",
			Detail: fmt.Sprintf("our lease expires in %s, under weftd's renew margin of %s for %s: weftd renews it at least every "+
				"third of the TTL, so nothing is keeping it alive", v.ttl.Round(time.Second), v.flags.renewMargin, ttl),
			Fix: "check that weftd runs and reaches etcd (its log says \"lease renewal failing\" when it cannot); " +
				"the subnet is freed when the lease expires"})
	}
	v.checkVTEP(l.Attrs.BackendData, v.fams[0])
	if len(v.fams) > 1 {
		v.checkVTEP(l.Attrs.BackendV6Data, v.fams[1])
	}
}

func (v *nodeView) checkVTEP(data []byte, fv *famView) {
	if fv.dev == nil {
		return
	}
	d, err := subnet.DecodeVXLANData(data)
	if err == nil && d.VtepMAC == fv.dev.MAC {
		return
	}
	detail := fmt.Sprintf("our lease carries no usable VTEP MAC for %s (%v)", fv.name, err)
	if err == nil {
		detail = fmt.Sprintf("our lease publishes VTEP MAC %s, but %s has %s: peers send to the wrong MAC", d.VtepMAC, fv.name, fv.dev.MAC)
	}
	v.add(finding{Check: "lease", Subject: v.own.Key(), Problem: "wrong", Detail: detail,
		Fix: "restart weftd: it writes the device's MAC into its lease"})
}

// checkEnv compares subnet.env with our lease, the config and the MTU.
func (v *nodeView) checkEnv() {
	path := v.flags.subnetFile
	if v.envErr != nil {
		v.envUnusable()
		return
	}
	e := v.env
	fix := "restart weftd to rewrite " + path + "; pods started with the wrong values need restarting"
	want := func(key, have, want string) {
		if have != want {
			v.add(finding{Check: "subnet.env", Subject: key, Problem: "wrong",
				Detail: fmt.Sprintf("%s=%s in %s, want %s", key, have, path, want), Fix: fix})
		}
	}
	nets := make([]string, 0, len(e.Networks))
	for _, n := range e.Networks {
		nets = append(nets, n.String())
	}
	want("FLANNEL_NETWORK", strings.Join(nets, ","), v.cfg.Network.String())
	if v.own != nil {
		want("FLANNEL_SUBNET", prefixText(e.Subnet), subnetenv.GatewayPrefix(v.own.Subnet).String())
	}
	if v.cfg.EnableIPv6 {
		want("FLANNEL_IPV6_NETWORK", prefixText(e.IPv6Network), v.cfg.IPv6Network.String())
		if v.own != nil && v.own.IPv6Subnet.IsValid() {
			want("FLANNEL_IPV6_SUBNET", prefixText(e.IPv6Subnet), subnetenv.GatewayPrefix(v.own.IPv6Subnet).String())
		}
	}
	if mtu, _, ok := v.wantMTU(v.fams[0]); ok {
		want("FLANNEL_MTU", fmt.Sprint(e.MTU), fmt.Sprint(mtu))
	}
}

// envUnusable reports a subnet.env that is missing or unreadable.
func (v *nodeView) envUnusable() {
	path := v.flags.subnetFile
	f := finding{Check: "subnet.env", Subject: path, Problem: "unusable", Detail: v.envErr.Error(),
		Fix: "weftd rewrites it at start: restart weftd"}
	if errors.Is(v.envErr, fs.ErrNotExist) {
		f.Problem, f.Detail = "missing", fmt.Sprintf("%s does not exist: the CNI plugin cannot give pods addresses", path)
		f.Fix = "weftd writes it once it holds a lease: check that weftd runs (and uses --subnet-file " + path + ")"
	}
	v.add(f)
}

func prefixText(p netip.Prefix) string {
	if !p.IsValid() {
		return "(absent)"
	}
	return p.String()
}

// wantMTU is the device MTU weftd sets: Backend.MTU, else the underlay's,
// minus the encapsulation overhead. why explains the number.
func (v *nodeView) wantMTU(fv *famView) (mtu int, why string, ok bool) {
	if fv.dev == nil {
		return 0, "", false
	}
	if m := v.cfg.Backend.MTU; m > 0 {
		return m - fv.overhead, fmt.Sprintf("Backend.MTU %d − %d", m, fv.overhead), true
	}
	if fv.dev.VXLAN == nil {
		return 0, "", false
	}
	u, found := v.byIndex[fv.dev.VXLAN.UnderlayIndex]
	if !found {
		return 0, "", false
	}
	return u.MTU - fv.overhead, fmt.Sprintf("underlay %s MTU %d − %d", u.Name, u.MTU, fv.overhead), true
}

// checkDevice checks the VXLAN device of one family; false means its
// entries cannot be checked (no usable device).
func (v *nodeView) checkDevice(fv *famView) bool {
	dev := fv.dev
	recreate := fmt.Sprintf("weftd replaces an incompatible device at start: restart weftd (or `ip link del %s` and let it re-create it)", fv.name)
	switch {
	case dev == nil:
		v.add(finding{Check: "device", Subject: fv.name, Problem: "missing",
			Detail: fmt.Sprintf("no device %s: this node sends nothing to its peers over the overlay", fv.name),
			Fix:    "weftd creates it at start and re-creates it when it disappears: check that weftd runs and its log"})
		return false
	case dev.VXLAN == nil:
		v.add(finding{Check: "device", Subject: fv.name, Problem: "wrong",
			Detail: fmt.Sprintf("%s is a %s link, not a VXLAN device", fv.name, orDash(dev.Kind)), Fix: recreate})
		return false
	}
	b, x := v.cfg.Backend, dev.VXLAN
	attr := func(name string, have, want any, key string) {
		if have != want {
			v.add(finding{Check: "device", Subject: fv.name, Problem: "wrong",
				Detail: fmt.Sprintf("%s %s is %v, want %v (%s)", fv.name, name, have, want, key), Fix: recreate})
		}
	}
	attr("VNI", x.VNI, b.VNI, "Backend.VNI")
	attr("port", x.Port, b.Port, "Backend.Port")
	attr("learning", x.Learning, b.Learning, "Backend.Learning")
	attr("gbp", x.GBP, b.GBP, "Backend.GBP")
	v.checkUnderlay(fv, recreate)
	if mtu, why, ok := v.wantMTU(fv); ok && dev.MTU != mtu {
		v.add(finding{Check: "device", Subject: fv.name, Problem: "wrong",
			Detail: fmt.Sprintf("%s MTU is %d, want %d (%s)", fv.name, dev.MTU, mtu, why),
			Fix:    fmt.Sprintf("ip link set %s mtu %d", fv.name, mtu)})
	}
	if !dev.Up {
		v.add(finding{Check: "device", Subject: fv.name, Problem: "wrong",
			Detail: fv.name + " is down", Fix: fmt.Sprintf("ip link set %s up", fv.name)})
	}
	v.checkAddrs(fv)
	return true
}

func (v *nodeView) checkUnderlay(fv *famView, fix string) {
	x := fv.dev.VXLAN
	u, ok := v.byIndex[x.UnderlayIndex]
	switch {
	case x.UnderlayIndex == 0 || !ok:
		v.add(finding{Check: "device", Subject: fv.name, Problem: "wrong",
			Detail: fmt.Sprintf("%s is not bound to an underlay interface", fv.name), Fix: fix})
	case !slices.ContainsFunc(u.Addrs, func(p netip.Prefix) bool { return p.Addr() == x.Local }):
		v.add(finding{Check: "device", Subject: fv.name, Problem: "wrong",
			Detail: fmt.Sprintf("%s local address %s is not an address of its underlay %s", fv.name, addrText(x.Local), u.Name), Fix: fix})
	}
}

// checkAddrs wants our subnet's network address as a host prefix on the
// device, and no other address of the family (link-local ones aside).
func (v *nodeView) checkAddrs(fv *famView) {
	if v.own == nil {
		return
	}
	sn := v.own.Subnet
	if fv.fam == dataplane.IPv6 {
		sn = v.own.IPv6Subnet
	}
	if !sn.IsValid() {
		return
	}
	want := netip.PrefixFrom(sn.Addr(), sn.Addr().BitLen())
	if !slices.Contains(fv.dev.Addrs, want) {
		v.add(finding{Check: "address", Subject: fv.name, Problem: "missing",
			Detail: fmt.Sprintf("%s lacks our subnet address %s", fv.name, want),
			Fix:    fmt.Sprintf("ip addr add %s dev %s", want, fv.name)})
	}
	for _, a := range fv.dev.Addrs {
		if a != want && a.Addr().Is4() == want.Addr().Is4() && !a.Addr().IsLinkLocalUnicast() {
			v.add(finding{Check: "address", Subject: fv.name, Problem: "extra",
				Detail: fmt.Sprintf("%s carries %s, not our subnet's", fv.name, a),
				Fix:    fmt.Sprintf("ip addr del %s dev %s", a, fv.name)})
		}
	}
}
