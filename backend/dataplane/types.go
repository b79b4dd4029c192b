// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package dataplane

import (
	"net/netip"

	"github.com/weft-net/weft/subnet"
)

// Family is an address family.
type Family uint8

// Address families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// FamilyOf returns the family of an address (IPv4 for 4-in-6 too).
func FamilyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return IPv4
	}
	return IPv6
}

func (f Family) String() string {
	if f == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// RTProtoBoot is the route protocol the kernel records for a route added
// without one (iproute2's and flannel's default).
const RTProtoBoot uint8 = 3

// RTProtoKernel is the protocol of routes the kernel adds for addresses.
const RTProtoKernel uint8 = 2

// Link is a network interface as the kernel reports it. The zero value is
// no link.
type Link struct {
	Index    int
	Name     string
	Kind     string // rtnetlink kind: "vxlan", "veth", "dummy"; "" for hardware
	MAC      subnet.MAC
	MTU      int
	Up       bool // administratively up (IFF_UP)
	Loopback bool
	// Addrs are the link's addresses with their prefix length; filled by
	// Links only.
	Addrs []netip.Prefix
	// VXLAN holds the VXLAN attributes when Kind is "vxlan".
	VXLAN *VXLANAttrs
}

// VXLANAttrs are the attributes that make two VXLAN devices equivalent.
type VXLANAttrs struct {
	VNI           uint32
	Port          uint16 // UDP destination port
	Local         netip.Addr
	UnderlayIndex int // the link the device is bound to (VXLAN "dev")
	Learning      bool
	GBP           bool
}

// VXLANSpec describes a VXLAN device to create.
type VXLANSpec struct {
	Name string
	VXLANAttrs
	MTU int
	MAC subnet.MAC // zero: the kernel picks a random one
}

// Neigh is a permanent neighbour entry: IP → MAC on a link.
type Neigh struct {
	LinkIndex int
	IP        netip.Addr
	MAC       subnet.MAC
}

// FDBEntry is a permanent forwarding entry of a VXLAN device ("self"):
// frames for MAC are sent to the VTEP at Dst.
type FDBEntry struct {
	LinkIndex int
	MAC       subnet.MAC
	Dst       netip.Addr
}

// Route is a unicast route of the main table.
type Route struct {
	Dst       netip.Prefix
	Gw        netip.Addr // zero for a directly connected route
	LinkIndex int
	OnLink    bool  // the gateway is on the link even though no address covers it
	Protocol  uint8 // who installed it (RTPROT_*)
	// Metric is the route's priority (RTA_PRIORITY, `ip route … metric`):
	// of routes to one destination the lowest wins, and it is part of a
	// route's identity (a replace with another metric adds a route). The
	// kernel stores IPv6 routes added with 0 as IPv6DefaultMetric.
	Metric uint32
	Src    netip.Addr // preferred source; set by RouteGet
}

// IPv6DefaultMetric is the metric the kernel gives an IPv6 route added
// without one (IP6_RT_PRIO_USER).
const IPv6DefaultMetric uint32 = 1024

// UpdateKind says which table an Update is about.
type UpdateKind uint8

// Update kinds.
const (
	LinkUpdate UpdateKind = iota + 1
	NeighUpdate
	FDBUpdate
	RouteUpdate
)

// Update is one change notification. Only the field matching Kind is set.
// Neighbour updates are sent for every deletion (one per deleted entry)
// and for permanent entries otherwise; FDB updates only for entries with a
// remote destination; route updates only for the main table.
type Update struct {
	Kind    UpdateKind
	Deleted bool
	Link    Link // Index, Name, Up, MTU
	Neigh   Neigh
	FDB     FDBEntry
	Route   Route
}
