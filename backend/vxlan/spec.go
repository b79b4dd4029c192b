// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

// peerSpec is the backend's digest of one lease: what planning reads from
// it, decoded once when the lease arrives. It does not depend on Local, so
// a full reconcile after a device change re-plans without decoding again,
// and it is about a third of the size of a subnet.Lease.
type peerSpec struct {
	rev    int64      // the lease's ModRevision: the newest lease wins a shared VTEP MAC
	public netip.Addr // the IPv4 part: PublicIP
	mac    subnet.MAC // and the VtepMAC of BackendData
	skip   bool       // no BackendData: a reservation of a node not up yet
	bad    *specErrs  // nil unless the lease is malformed
	v6     *v6Spec    // dual-stack leases only
}

// specErrs are a malformed lease's problems, kept out of line: a 5,000
// peer set holds none.
type specErrs struct {
	typ error // BackendType is not vxlan
	v4  error // the IPv4 part cannot be planned
}

// famSpec is one family's part of a lease.
type famSpec struct {
	public netip.Addr
	mac    subnet.MAC
	err    error // why this family's entries cannot be planned
}

type v6Spec struct {
	subnet netip.Prefix
	skip   bool // no BackendV6Data
	famSpec
}

// specOf digests a lease, running every check that does not depend on
// Local (the ones planFamily made before).
func specOf(le *subnet.Lease) peerSpec {
	if !le.Subnet.IsValid() && le.IPv6Subnet.IsValid() {
		return specOfV6Only(le)
	}
	s := peerSpec{rev: le.ModRevision}
	if len(le.Attrs.BackendData) == 0 {
		s.skip = true
		return s
	}
	if le.Attrs.BackendType != subnet.BackendVXLAN {
		s.bad = &specErrs{typ: fmt.Errorf("BackendType %q: not a vxlan peer", le.Attrs.BackendType)}
		return s
	}
	v4 := famSpecOf(le.Subnet, le.Attrs.PublicIP, le.Attrs.BackendData, "PublicIP")
	s.public, s.mac = v4.public, v4.mac
	if v4.err != nil {
		s.bad = &specErrs{v4: v4.err}
	}
	if le.IPv6Subnet.IsValid() {
		v6 := &v6Spec{subnet: le.IPv6Subnet, skip: len(le.Attrs.BackendV6Data) == 0}
		if !v6.skip {
			v6.famSpec = famSpecOf(le.IPv6Subnet, le.Attrs.PublicIPv6, le.Attrs.BackendV6Data, "PublicIPv6")
		}
		s.v6 = v6
	}
	return s
}

func famSpecOf(sn netip.Prefix, public netip.Addr, data []byte, publicKey string) famSpec {
	mac, err := vtepMAC(data)
	switch {
	case err != nil:
	case mac.IsZero():
		err = errors.New("BackendData has no VtepMAC")
	case !public.IsValid():
		err = fmt.Errorf("%s missing", publicKey)
	case public.Is4() != sn.Addr().Is4():
		err = fmt.Errorf("%s %s: wrong address family for subnet %s", publicKey, public, sn)
	}
	return famSpec{public: public, mac: mac, err: err}
}

// planSpec plans one digested lease (IPv4 subnet sn) and passes each
// family's entries to emit. It returns why the lease was skipped, if it
// is malformed; our own subnet and reservations are skipped quietly.
func planSpec(l Local, sn netip.Prefix, s *peerSpec, emit func(peerEntries)) error {
	if sn == l.Own4 || s.skip {
		return nil
	}
	if s.bad != nil && s.bad.typ != nil {
		return s.bad.typ
	}
	if l.Dev4 > 0 {
		if s.bad != nil {
			return s.bad.v4
		}
		e := entriesOf(l, l.Dev4, sn, s.public, s.mac)
		if err := guard(l, &e, s.public); err != nil {
			return err
		}
		emit(e)
	}
	v6 := s.v6
	if l.Dev6 == 0 || v6 == nil || v6.subnet == l.Own6 || v6.skip {
		return nil
	}
	if v6.err != nil {
		return fmt.Errorf("IPv6: %w", v6.err)
	}
	e := entriesOf(l, l.Dev6, v6.subnet, v6.public, v6.mac)
	if err := guard(l, &e, v6.public); err != nil {
		return fmt.Errorf("IPv6: %w", err)
	}
	emit(e)
	return nil
}

// guard refuses a peer route that would capture the traffic the overlay
// itself rides on: to our underlay addresses, or to the peer's public IP
// (its FDB destination, and its gateway under DirectRouting). Admission
// already rejects such leases; this is the second line, whatever the
// caller passes.
func guard(l Local, e *peerEntries, public netip.Addr) error {
	dst := e.Route.Dst
	if dst.Contains(public) {
		return fmt.Errorf("route %s would cover the peer's public IP %s", dst, public)
	}
	for _, a := range l.UnderlayAddrs {
		if dst.Contains(a) {
			return fmt.Errorf("route %s would cover underlay address %s", dst, a)
		}
	}
	return nil
}

// entriesOf builds a peer's entries: a direct route when its public IP is
// on the underlay (DirectRouting), else neighbour, FDB entry and route.
func entriesOf(l Local, dev int, sn netip.Prefix, public netip.Addr, mac subnet.MAC) peerEntries {
	if onLink(l.Direct, public) {
		return peerEntries{Subnet: sn, Direct: true, Route: dataplane.Route{
			Dst: sn, Gw: public, LinkIndex: l.Underlay, Protocol: RouteProtocol, Metric: RouteMetric(sn),
		}}
	}
	gw := sn.Addr()
	return peerEntries{
		Subnet: sn,
		Neigh:  dataplane.Neigh{LinkIndex: dev, IP: gw, MAC: mac},
		FDB:    dataplane.FDBEntry{LinkIndex: dev, MAC: mac, Dst: public},
		Route:  dataplane.Route{Dst: sn, Gw: gw, LinkIndex: dev, OnLink: true, Protocol: RouteProtocol, Metric: RouteMetric(sn)},
	}
}

// sameSpec reports whether two digests plan the same entries and problems.
func sameSpec(a, b *peerSpec) bool {
	if a.skip != b.skip || a.public != b.public || a.mac != b.mac || (a.bad == nil) != (b.bad == nil) || (a.v6 == nil) != (b.v6 == nil) {
		return false
	}
	if a.bad != nil && (!sameErr(a.bad.typ, b.bad.typ) || !sameErr(a.bad.v4, b.bad.v4)) {
		return false
	}
	return a.v6 == nil || (a.v6.subnet == b.v6.subnet && a.v6.skip == b.v6.skip && sameFam(&a.v6.famSpec, &b.v6.famSpec))
}

func sameFam(a, b *famSpec) bool {
	return a.public == b.public && a.mac == b.mac && sameErr(a.err, b.err)
}

func sameErr(a, b error) bool {
	return (a == nil) == (b == nil) && (a == nil || a.Error() == b.Error())
}

// vtepMAC reads the VtepMAC of a BackendData (subnet.DecodeVXLANData reads
// flannel's exact form without encoding/json).
func vtepMAC(data []byte) (subnet.MAC, error) {
	d, err := subnet.DecodeVXLANData(data)
	return d.VtepMAC, err
}
