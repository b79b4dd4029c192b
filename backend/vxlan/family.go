// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/weft-net/weft/backend"
	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

// The address families the backend runs: flannel.<VNI> for IPv4 (unless
// IPv6-only), flannel-v6.<VNI> for IPv6 (dual stack or IPv6-only). In an
// IPv6-only network flanneld's leases carry no IPv4 subnet (key
// 0.0.0.0-0&<v6>), and the backend tracks each lease by its IPv6 subnet.

func (b *Backend) wantV4() bool { return !b.opts.IPv6Only }
func (b *Backend) wantV6() bool { return b.opts.DualStack || b.opts.IPv6Only }

// checkUnderlay says what ext lacks for the devices the backend runs.
func (b *Backend) checkUnderlay(ext backend.ExternalInterface) error {
	if b.wantV4() && !ext.IfaceAddr.Is4() {
		return fmt.Errorf("underlay %s: no IPv4 address for the VXLAN device", ext.Name)
	}
	if b.wantV6() && !ext.IfaceAddrV6.Is6() {
		if b.opts.IPv6Only {
			return fmt.Errorf("underlay %s: no IPv6 address for the VXLAN device of the IPv6-only network", ext.Name)
		}
		return fmt.Errorf("underlay %s: no IPv6 address for the dual-stack VXLAN device", ext.Name)
	}
	return nil
}

// newDevices lists the devices the backend runs on ext, IPv4 first.
func (b *Backend) newDevices(ext backend.ExternalInterface) ([]*device, error) {
	if err := b.checkUnderlay(ext); err != nil {
		return nil, err
	}
	var devs []*device
	if b.wantV4() {
		devs = append(devs, &device{fam: dataplane.IPv4, name: DeviceName(b.cfg.VNI), overhead: overheadV4, local: ext.IfaceAddr})
	}
	if b.wantV6() {
		devs = append(devs, &device{fam: dataplane.IPv6, name: DeviceNameV6(b.cfg.VNI), overhead: overheadV6, local: ext.IfaceAddrV6})
	}
	return devs, nil
}

// localAddr is the VXLAN local address of a device of family f on ext.
func localAddr(f dataplane.Family, ext backend.ExternalInterface) netip.Addr {
	if f == dataplane.IPv6 {
		return ext.IfaceAddrV6
	}
	return ext.IfaceAddr
}

// ownSubnet is our subnet in family f.
func ownSubnet(f dataplane.Family, own subnet.Lease) netip.Prefix {
	if f == dataplane.IPv6 {
		return own.IPv6Subnet
	}
	return own.Subnet
}

// setLocalDevices records each device's subnet and index in l.
func (b *Backend) setLocalDevices(l *Local) {
	for _, d := range b.devs {
		if d.fam == dataplane.IPv6 {
			l.Own6, l.Dev6 = d.own, d.index
		} else {
			l.Own4, l.Dev4 = d.own, d.index
		}
	}
}

// peerKey is the subnet the backend tracks a lease by: its IPv4 subnet, or
// the IPv6 subnet of an IPv6-only lease.
func peerKey(le *subnet.Lease) netip.Prefix { return le.Primary() }

// errNoIPv4 is planned for an IPv6-only lease on a node with an IPv4
// device: admission rejects such leases first.
var errNoIPv4 = errors.New("no IPv4 subnet (an IPv6-only lease)")

// specOfV6Only digests an IPv6-only lease: no IPv4 part, the IPv6 part
// from BackendV6Data; without it, a reservation not filled in yet.
func specOfV6Only(le *subnet.Lease) peerSpec {
	s := peerSpec{rev: le.ModRevision, bad: &specErrs{v4: errNoIPv4}}
	v6 := &v6Spec{subnet: le.IPv6Subnet, skip: len(le.Attrs.BackendV6Data) == 0}
	s.v6, s.skip = v6, v6.skip
	if v6.skip {
		return s
	}
	if le.Attrs.BackendType != subnet.BackendVXLAN {
		s.bad.typ = fmt.Errorf("BackendType %q: not a vxlan peer", le.Attrs.BackendType)
		return s
	}
	v6.famSpec = famSpecOf(le.IPv6Subnet, le.Attrs.PublicIPv6, le.Attrs.BackendV6Data, "PublicIPv6")
	// The lease's node, for logs: never planned as IPv4 (bad.v4 is set).
	s.public, s.mac = v6.public, v6.mac
	return s
}

// counts reports whether the peer entries of key count as one peer in
// Status: those of the family every lease has (IPv6 in an IPv6-only
// network, IPv4 otherwise).
func (p *plan) counts(key netip.Prefix) bool { return key.Addr().Is4() != p.v6only }
