// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/weft-net/weft/backend/dataplane"
)

// MaxDumpAttempts is maxDumpAttempts for the external tests.
const MaxDumpAttempts = maxDumpAttempts

// InterruptDumps makes dp's dumps report interruptions, as the kernel does
// when a table changes during a dump: each dump is interrupted n times in a
// row, then completes. set changes n at any time (0 stops interrupting).
func InterruptDumps(dp *Dataplane) (set func(n int)) {
	in := &interrupter{next: dp.dump, streak: make(map[string]int)}
	dp.dump = in
	// These interruptions are made up, not a burst of changes to wait out.
	dp.retryPause = 0
	return func(n int) { in.n.Store(int32(n)) }
}

// interrupter wraps a dumper. An interrupted dump returns what the library
// returns, the entries read so far and ErrDumpInterrupted: here the first
// half of the real entries plus a stale one the table does not hold, so
// that a caller keeping anything of an interrupted attempt shows it. The
// streak of interruptions is kept per dump (kind and arguments), so that
// concurrent dumps of different tables do not share one.
type interrupter struct {
	next   dumper
	n      atomic.Int32
	mu     sync.Mutex
	streak map[string]int
}

// interrupt reports whether this attempt of the dump key is interrupted.
func (in *interrupter) interrupt(key string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.streak[key] < int(in.n.Load()) {
		in.streak[key]++
		return true
	}
	delete(in.streak, key)
	return false
}

func partial[T any](all []T, stale T) []T {
	return append(all[:len(all)/2:len(all)/2], stale)
}

// staleIP is an address no test programs (TEST-NET-1).
var staleIP = net.IPv4(192, 0, 2, 1).To4()

func staleNeigh(index, family int) neighMsg {
	return neighMsg{index: index, family: uint8(family), state: unix.NUD_PERMANENT, ip: netip.AddrFrom4([4]byte(staleIP)),
		mac: [6]byte{2, 0, 0, 0, 0xde, 0xad}}
}

func staleLink() netlink.Link {
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 9999, Name: "stale0", MTU: 1500, Flags: net.FlagUp}}
}

func (in *interrupter) LinkList() ([]netlink.Link, error) {
	ls, err := in.next.LinkList()
	if err == nil && in.interrupt("links") {
		return partial(ls, staleLink()), netlink.ErrDumpInterrupted
	}
	return ls, err
}

func (in *interrupter) LinkByName(name string) (netlink.Link, error) {
	l, err := in.next.LinkByName(name)
	if err == nil && in.interrupt("link "+name) {
		return staleLink(), netlink.ErrDumpInterrupted
	}
	return l, err
}

func (in *interrupter) AddrList(link netlink.Link, family int) ([]netlink.Addr, error) {
	as, err := in.next.AddrList(link, family)
	index := 0
	if link != nil {
		index = link.Attrs().Index
	}
	if err == nil && in.interrupt(fmt.Sprintf("addrs %d %d", index, family)) {
		stale := netlink.Addr{LinkIndex: index, IPNet: &net.IPNet{IP: staleIP, Mask: net.CIDRMask(32, 32)}}
		return partial(as, stale), netlink.ErrDumpInterrupted
	}
	return as, err
}

// NeighIter passes the first half of the entries and a stale one (a
// neighbour, or an FDB entry's destination) to f before reporting the
// interruption, as the kernel dumper does with what it has read.
func (in *interrupter) NeighIter(index, family int, f func(*neighMsg) bool) error {
	var all []neighMsg
	err := in.next.NeighIter(index, family, func(n *neighMsg) bool {
		all = append(all, *n)
		return true
	})
	if err == nil && in.interrupt(fmt.Sprintf("neigh %d %d", index, family)) {
		all, err = partial(all, staleNeigh(index, family)), netlink.ErrDumpInterrupted
	}
	for i := range all {
		if !f(&all[i]) {
			break
		}
	}
	return err
}

// RouteIter passes the first half of the routes and a stale default route
// of the lowest metric to f before reporting the interruption, as the
// kernel dumper does with what it has read.
func (in *interrupter) RouteIter(family int, f func(*routeMsg) bool) error {
	var all []routeMsg
	err := in.next.RouteIter(family, func(r *routeMsg) bool {
		all = append(all, *r)
		return true
	})
	if err == nil && in.interrupt(fmt.Sprintf("routes %d", family)) {
		dst := netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if family == unix.AF_INET6 {
			dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
		stale := routeMsg{table: unix.RT_TABLE_MAIN, typ: unix.RTN_UNICAST, route: dataplane.Route{Dst: dst, LinkIndex: 9999}}
		all, err = partial(all, stale), netlink.ErrDumpInterrupted
	}
	for i := range all {
		if !f(&all[i]) {
			break
		}
	}
	return err
}
