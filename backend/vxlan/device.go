// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/sirupsen/logrus"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

// device is one VXLAN device of the backend (one per address family).
type device struct {
	fam      dataplane.Family
	name     string
	overhead int
	mtu      int
	local    netip.Addr
	mac      subnet.MAC
	index    int          // current kernel index; 0 when unknown or gone
	own      netip.Prefix // our subnet in this family (set by Run)
}

// underlay finds the underlay by name: its index changes when the link is
// re-created.
func (b *Backend) underlay() (dataplane.Link, error) {
	l, err := b.dp.LinkByName(b.ext.Name)
	if err != nil {
		return dataplane.Link{}, fmt.Errorf("find underlay: %w", err)
	}
	return l, nil
}

// underlayAddrs are the underlay's own and public addresses, for guard.
func (b *Backend) underlayAddrs() []netip.Addr {
	var out []netip.Addr
	for _, a := range []netip.Addr{b.ext.IfaceAddr, b.ext.PublicIP, b.ext.IfaceAddrV6, b.ext.PublicIPv6} {
		if a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}

func (b *Backend) spec(d *device, underlay dataplane.Link) dataplane.VXLANSpec {
	return dataplane.VXLANSpec{
		Name: d.name, MTU: d.mtu, MAC: d.mac,
		VXLANAttrs: dataplane.VXLANAttrs{
			VNI: b.cfg.VNI, Port: b.cfg.Port, Local: d.local, UnderlayIndex: underlay.Index,
			Learning: b.cfg.Learning, GBP: b.cfg.GBP,
		},
	}
}

// incompatible names the first attribute in which an existing link differs
// from spec in a way only re-creation fixes; "" when it can be adopted.
func incompatible(l dataplane.Link, spec dataplane.VXLANSpec) (attr string, have, want any) {
	v := l.VXLAN
	switch {
	case v == nil:
		return "kind", l.Kind, "vxlan"
	case v.VNI != spec.VNI:
		return "vni", v.VNI, spec.VNI
	case v.Port != spec.Port:
		return "port", v.Port, spec.Port
	case v.Local != spec.Local:
		return "local", v.Local, spec.Local
	case v.UnderlayIndex != spec.UnderlayIndex:
		return "dev", v.UnderlayIndex, spec.UnderlayIndex
	case v.Learning != spec.Learning:
		return "learning", v.Learning, spec.Learning
	case v.GBP != spec.GBP:
		return "gbp", v.GBP, spec.GBP
	case l.MAC != spec.MAC:
		return "mac", l.MAC, spec.MAC
	}
	return "", nil, nil
}

// ensureDevice creates, adopts or replaces d on the underlay, fixes its MTU,
// up state and checksum offload, and records its index. created says a
// new device was made.
func (b *Backend) ensureDevice(d *device, underlay dataplane.Link) (created bool, err error) {
	spec := b.spec(d, underlay)
	log := b.log.WithField("device", d.name)
	l, err := b.dp.LinkByName(d.name)
	switch {
	case errors.Is(err, dataplane.ErrNotFound):
		l, err = b.create(spec, log)
		created = true
	case err != nil:
		return false, fmt.Errorf("look up device %s: %w", d.name, err)
	default:
		if attr, have, want := incompatible(l, spec); attr != "" {
			log.WithFields(logrus.Fields{"attribute": attr, "have": have, "want": want}).
				Warn("replacing incompatible device")
			if err := b.dp.DelLink(d.name); err != nil {
				return false, fmt.Errorf("replace device %s: %w", d.name, err)
			}
			l, err = b.create(spec, log)
			created = true
		} else {
			err = b.fixDevice(l, spec)
		}
	}
	if err != nil {
		d.index = 0
		return created, err
	}
	d.index = l.Index
	return created, b.ensureChecksum(d)
}

func (b *Backend) create(spec dataplane.VXLANSpec, log logrus.FieldLogger) (dataplane.Link, error) {
	l, err := b.dp.CreateVXLAN(spec)
	if err != nil {
		return l, err
	}
	log.WithFields(logrus.Fields{"vni": spec.VNI, "vtep_mac": spec.MAC, "mtu": spec.MTU, "local": spec.Local}).
		Info("device created")
	return l, nil
}

func (b *Backend) fixDevice(l dataplane.Link, spec dataplane.VXLANSpec) error {
	if l.MTU != spec.MTU {
		if err := b.dp.SetLinkMTU(l.Index, spec.MTU); err != nil {
			return err
		}
	}
	if !l.Up {
		return b.dp.SetLinkUp(l.Index)
	}
	return nil
}

// ensureChecksum applies the TxChecksumOffload policy.
func (b *Backend) ensureChecksum(d *device) error {
	on, enforce := checksumPolicy(b.cfg.TxChecksumOffload, b.opts.KernelRelease)
	if !enforce {
		return nil
	}
	have, err := b.dp.TxChecksum(d.name)
	if err != nil || have == on {
		return err
	}
	b.log.WithFields(logrus.Fields{"device": d.name, "tx_checksum": on, "kernel": b.opts.KernelRelease}).
		Info("setting tx checksum offload")
	return b.dp.SetTxChecksum(d.name, on)
}

// ensureAddr puts our subnet address on the device and removes any other
// address of the family (a previous subnet's), keeping link-local ones.
func (b *Backend) ensureAddr(d *device) error {
	if !d.own.IsValid() || d.index == 0 {
		return nil
	}
	want := ownAddr(d.own)
	addrs, err := b.dp.Addrs(d.index)
	if err != nil {
		return err
	}
	have := false
	for _, a := range addrs {
		switch {
		case a == want:
			have = true
		case a.Addr().Is4() == want.Addr().Is4() && !a.Addr().IsLinkLocalUnicast():
			if err := b.dp.DelAddr(d.index, a); err != nil {
				return err
			}
		}
	}
	if have {
		return nil
	}
	return b.dp.AddAddr(d.index, want)
}
