// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/weft-net/weft/backend/dataplane"
)

func linkOf(l netlink.Link) dataplane.Link {
	a := l.Attrs()
	out := dataplane.Link{
		Index: a.Index, Name: a.Name, Kind: l.Type(), MAC: macOf(a.HardwareAddr), MTU: a.MTU,
		Up: a.Flags&net.FlagUp != 0, Loopback: a.Flags&net.FlagLoopback != 0,
	}
	if out.Kind == "device" {
		out.Kind = ""
	}
	if v, ok := l.(*netlink.Vxlan); ok {
		out.VXLAN = &dataplane.VXLANAttrs{
			VNI: uint32(v.VxlanId), Port: uint16(v.Port), Local: addrOf(v.SrcAddr),
			UnderlayIndex: v.VtepDevIndex, Learning: v.Learning, GBP: v.GBP,
		}
	}
	return out
}

// indexLink is a netlink.Link naming a link by index, for verbs that only
// read Attrs().Index.
func indexLink(index int) netlink.Link {
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index}}
}

// Links lists every link of the namespace with its addresses.
func (d *Dataplane) Links() ([]dataplane.Link, error) {
	ls, err := d.listLinks()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	addrs, err := d.listAddrs(nil)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	byIndex := make(map[int][]netip.Prefix)
	for _, a := range addrs {
		byIndex[a.LinkIndex] = append(byIndex[a.LinkIndex], prefixOf(a.IPNet))
	}
	out := make([]dataplane.Link, 0, len(ls))
	for _, l := range ls {
		dl := linkOf(l)
		dl.Addrs = byIndex[dl.Index]
		out = append(out, dl)
	}
	return out, nil
}

// LinkByName returns one link; dataplane.ErrNotFound if absent.
func (d *Dataplane) LinkByName(name string) (dataplane.Link, error) {
	l, err := d.linkByName(name)
	if err != nil {
		if gone(err) {
			return dataplane.Link{}, fmt.Errorf("link %q: %w", name, dataplane.ErrNotFound)
		}
		return dataplane.Link{}, fmt.Errorf("get link %q: %w", name, err)
	}
	return linkOf(l), nil
}

// CreateVXLAN creates a VXLAN device and sets it up.
func (d *Dataplane) CreateVXLAN(spec dataplane.VXLANSpec) (dataplane.Link, error) {
	la := netlink.NewLinkAttrs()
	la.Name, la.MTU = spec.Name, spec.MTU
	if spec.MAC != ([6]byte{}) {
		la.HardwareAddr = spec.MAC.HardwareAddr()
	}
	v := &netlink.Vxlan{
		LinkAttrs: la, VxlanId: int(spec.VNI), VtepDevIndex: spec.UnderlayIndex,
		SrcAddr: ipOf(spec.Local), Port: int(spec.Port), Learning: spec.Learning, GBP: spec.GBP,
	}
	if err := d.h.LinkAdd(v); err != nil {
		return dataplane.Link{}, fmt.Errorf("create vxlan link %q: %w", spec.Name, err)
	}
	l, err := d.linkByName(spec.Name)
	if err != nil {
		return dataplane.Link{}, fmt.Errorf("get new vxlan link %q: %w", spec.Name, err)
	}
	if err := d.h.LinkSetUp(l); err != nil {
		return dataplane.Link{}, fmt.Errorf("set vxlan link %q up: %w", spec.Name, err)
	}
	out := linkOf(l)
	out.Up = true
	return out, nil
}

// DelLink deletes a link by name; a missing link is not an error.
func (d *Dataplane) DelLink(name string) error {
	l, err := d.linkByName(name)
	if err != nil {
		if gone(err) {
			return nil
		}
		return fmt.Errorf("get link %q: %w", name, err)
	}
	if err := d.h.LinkDel(l); err != nil && !gone(err) {
		return fmt.Errorf("delete link %q: %w", name, err)
	}
	return nil
}

// SetLinkUp sets a link administratively up.
func (d *Dataplane) SetLinkUp(index int) error {
	if err := d.h.LinkSetUp(indexLink(index)); err != nil {
		return fmt.Errorf("set link %d up: %w", index, err)
	}
	return nil
}

// SetLinkMTU sets a link's MTU.
func (d *Dataplane) SetLinkMTU(index, mtu int) error {
	if err := d.h.LinkSetMTU(indexLink(index), mtu); err != nil {
		return fmt.Errorf("set link %d mtu %d: %w", index, mtu, err)
	}
	return nil
}

// Addrs lists the addresses on a link.
func (d *Dataplane) Addrs(index int) ([]netip.Prefix, error) {
	as, err := d.listAddrs(indexLink(index))
	if err != nil {
		return nil, fmt.Errorf("list addresses of link %d: %w", index, err)
	}
	out := make([]netip.Prefix, 0, len(as))
	for _, a := range as {
		out = append(out, prefixOf(a.IPNet))
	}
	return out, nil
}

// AddAddr adds (or refreshes) an address; IPv6 addresses skip duplicate
// address detection, which would leave them unusable for a second.
func (d *Dataplane) AddAddr(index int, p netip.Prefix) error {
	a := &netlink.Addr{IPNet: ipNetOf(p)}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := d.h.AddrReplace(indexLink(index), a); err != nil {
		return fmt.Errorf("add address %s to link %d: %w", p, index, err)
	}
	return nil
}

// DelAddr deletes an address; a missing one is not an error.
func (d *Dataplane) DelAddr(index int, p netip.Prefix) error {
	if err := d.h.AddrDel(indexLink(index), &netlink.Addr{IPNet: ipNetOf(p)}); err != nil && !gone(err) {
		return fmt.Errorf("delete address %s from link %d: %w", p, index, err)
	}
	return nil
}
