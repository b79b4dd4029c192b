// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp

import (
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// handleDumper is the kernel's dumper: the library's handle, plus a
// neighbour dump that hands each entry to its caller as it is read.
// The library's NeighList gathers every reply message and then every
// decoded entry before returning (about 370 bytes per entry: 3.7 MB for
// the FDB of 10,000 peers at each full reconcile, the largest single
// allocation of weftd's peak); the callers keep only permanent entries of
// one link in a compact form, so nothing of the dump needs to outlive its
// message.
type handleDumper struct {
	*netlink.Handle
	neigh *nl.SocketHandle // a socket of its own: requests on it are serialised
}

func newHandleDumper(h *netlink.Handle, ns netns.NsHandle) (*handleDumper, error) {
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open neighbour dump socket: %w", err)
	}
	if err := s.SetReceiveTimeout(&nl.SocketTimeoutTv); err != nil {
		s.Close()
		return nil, fmt.Errorf("set up neighbour dump socket: %w", err)
	}
	return &handleDumper{Handle: h, neigh: &nl.SocketHandle{Socket: s}}, nil
}

func (h *handleDumper) close() { h.neigh.Close() }

// NeighListIter dumps the neighbour (family AF_INET or AF_INET6) or FDB
// (AF_BRIDGE) entries of the link index, passing each to f until f returns
// false. Like the library's Iter forms, an interrupted dump has passed
// what it read to f before returning ErrDumpInterrupted.
func (h *handleDumper) NeighListIter(index, family int, f func(*netlink.Neigh) bool) error {
	req := nl.NewNetlinkRequest(unix.RTM_GETNEIGH, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: h.neigh}
	req.AddData(&netlink.Ndmsg{Family: uint8(family), Index: uint32(index)})
	err := req.ExecuteIter(unix.NETLINK_ROUTE, unix.RTM_NEWNEIGH, func(m []byte) bool {
		if len(m) < unix.SizeofNdMsg {
			return true
		}
		// struct ndmsg: family (1 byte), 3 bytes of padding, ifindex.
		if int(m[0]) != family || int(nl.NativeEndian().Uint32(m[4:8])) != index {
			return true // the kernel may ignore the filter and dump every link
		}
		n, err := netlink.NeighDeserialize(m)
		if err != nil {
			return true // as the library's NeighList: skip what it cannot decode
		}
		return f(n)
	})
	if err != nil {
		return fmt.Errorf("dump neighbours of link %d: %w", index, err)
	}
	return nil
}
