// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package dataplane

import (
	"context"
	"errors"
	"net/netip"
)

// ErrNotFound is returned (wrapped) when a link or route asked for by name
// or destination does not exist.
var ErrNotFound = errors.New("not found")

// ErrOverrun is returned (wrapped) by Watch when the kernel dropped
// notifications (netlink ENOBUFS): the caller must resync in full.
var ErrOverrun = errors.New("notification buffer overrun")

// Dataplane is the kernel boundary of a backend: links, addresses, the
// neighbour, FDB and route tables, offload settings and change
// notifications, for one network namespace.
type Dataplane interface {
	// Links lists every link with its addresses.
	Links() ([]Link, error)
	// LinkByName returns one link (without addresses); ErrNotFound if absent.
	LinkByName(name string) (Link, error)
	// CreateVXLAN creates a VXLAN device and sets it up. It fails if a link
	// with that name exists: replacing one is the caller's decision.
	CreateVXLAN(spec VXLANSpec) (Link, error)
	// DelLink deletes a link by name; a missing link is not an error.
	DelLink(name string) error
	// SetLinkUp sets a link administratively up.
	SetLinkUp(index int) error
	// SetLinkMTU sets a link's MTU.
	SetLinkMTU(index, mtu int) error

	// Addrs lists the addresses (with prefix length) on a link.
	Addrs(index int) ([]netip.Prefix, error)
	// AddAddr adds an address to a link (IPv6 without duplicate address
	// detection); an existing one is not an error.
	AddAddr(index int, addr netip.Prefix) error
	// DelAddr deletes an address from a link; a missing one is not an error.
	DelAddr(index int, addr netip.Prefix) error

	// TxChecksum reports whether tx checksum offload is on for a link.
	TxChecksum(name string) (bool, error)
	// SetTxChecksum turns tx checksum offload on or off for a link.
	SetTxChecksum(name string, on bool) error

	// Neighs lists the permanent neighbour entries (both families) of a link.
	Neighs(index int) ([]Neigh, error)
	// SetNeigh adds or replaces a permanent neighbour entry.
	SetNeigh(n Neigh) error
	// DelNeigh deletes a neighbour entry; a missing one is not an error.
	DelNeigh(n Neigh) error

	// FDB lists the forwarding entries with a remote destination of a
	// VXLAN link.
	FDB(index int) ([]FDBEntry, error)
	// SetFDB adds a permanent entry or replaces the destination of the
	// MAC's entry (the kernel keeps one destination per unicast MAC).
	SetFDB(e FDBEntry) error
	// DelFDB deletes the MAC's entry if it points at Dst; a missing one is
	// not an error.
	DelFDB(e FDBEntry) error

	// Routes lists the unicast routes of the main table for one family.
	Routes(f Family) ([]Route, error)
	// ReplaceRoute adds a route to the main table, replacing one with the
	// same destination and metric (whatever its gateway, link or protocol);
	// a route with another metric stays beside it.
	ReplaceRoute(r Route) error
	// DelRoute deletes a main-table route matching Dst, LinkIndex,
	// Protocol and Metric; a missing one is not an error. Metric 0 matches
	// any metric (the kernel then deletes the lowest-metric match).
	DelRoute(r Route) error
	// RouteGet asks the kernel which route it would use to reach dst
	// (LinkIndex, Gw and Src of the result are set); ErrNotFound when unreachable.
	RouteGet(dst netip.Addr) (Route, error)
	// DefaultRouteLink returns the link index of the main-table default
	// route of a family with the lowest metric; ErrNotFound when none.
	DefaultRouteLink(f Family) (int, error)

	// Watch sends link, neighbour, FDB and route changes to updates until
	// ctx ends (then it returns nil) or the subscription fails (it returns
	// an error, wrapping ErrOverrun when notifications were lost). It never
	// closes updates, and blocks sending to it: the caller keeps reading.
	Watch(ctx context.Context, updates chan<- Update) error
}
