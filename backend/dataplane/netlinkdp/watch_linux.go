// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/weft-net/weft/backend/dataplane"
)

// watchBuffer holds one notification (a link's can take a few KiB).
const watchBuffer = 64 << 10

// subscribe opens one socket in our namespace joined to the link,
// neighbour (and FDB) and IPv4/IPv6 route groups. It is read through an
// os.File, so a read waits in Go's poller and a deadline ends it.
func (d *Dataplane) subscribe() (*os.File, error) {
	s, err := nl.SubscribeAt(d.ns, netns.None(), unix.NETLINK_ROUTE,
		unix.RTNLGRP_LINK, unix.RTNLGRP_NEIGH, unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("subscribe to netlink changes: %w", err)
	}
	defer s.Close()
	if err := s.SetReceiveBufferSize(d.ReceiveBuffer, true); err != nil {
		return nil, fmt.Errorf("set netlink receive buffer: %w", err)
	}
	fd, err := unix.FcntlInt(uintptr(s.GetFd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicate netlink socket: %w", err)
	}
	return os.NewFile(uintptr(fd), "netlink-watch"), nil
}

// Watch forwards link, neighbour, FDB and route changes until ctx ends.
// One goroutine reads every notification into one buffer and decodes
// only the fields an Update carries: programming thousands of entries
// sends as many notifications back, and reading them must stay cheap.
func (d *Dataplane) Watch(ctx context.Context, updates chan<- dataplane.Update) error {
	f, err := d.subscribe()
	if err != nil {
		return err
	}
	defer f.Close()
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, watchBuffer)
	for {
		n, err := f.Read(buf)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && isOverrun(err):
			return fmt.Errorf("netlink subscription: %w: %w", dataplane.ErrOverrun, err)
		case err != nil:
			return fmt.Errorf("netlink subscription: %w", err)
		}
		for b := buf[:n]; len(b) >= unix.SizeofNlMsghdr; {
			l := int(binary.NativeEndian.Uint32(b))
			if l < unix.SizeofNlMsghdr || l > len(b) {
				break
			}
			u, ok := decodeUpdate(b[:l])
			b = b[min(nlmAlign(l), len(b)):]
			if !ok {
				continue
			}
			select {
			case updates <- u:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// decodeUpdate turns one notification into an Update; ok is false for
// those Watch does not forward.
func decodeUpdate(m []byte) (dataplane.Update, bool) {
	var hdr unix.NlMsghdr
	ne := binary.NativeEndian
	hdr.Len, hdr.Type, hdr.Flags = ne.Uint32(m), ne.Uint16(m[4:]), ne.Uint16(m[6:])
	hdr.Seq, hdr.Pid = ne.Uint32(m[8:]), ne.Uint32(m[12:])
	data := m[unix.SizeofNlMsghdr:]
	switch hdr.Type {
	case unix.RTM_NEWLINK, unix.RTM_DELLINK:
		return linkUpdate(&hdr, data), true
	case unix.RTM_NEWNEIGH, unix.RTM_DELNEIGH:
		return neighUpdate(hdr.Type == unix.RTM_DELNEIGH, data)
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		return routeUpdate(hdr.Type == unix.RTM_DELROUTE, data)
	}
	return dataplane.Update{}, false
}

func linkUpdate(hdr *unix.NlMsghdr, data []byte) dataplane.Update {
	u := dataplane.Update{Kind: dataplane.LinkUpdate, Deleted: hdr.Type == unix.RTM_DELLINK}
	if len(data) < unix.SizeofIfInfomsg {
		return u
	}
	u.Link = dataplane.Link{Index: int(int32(binary.NativeEndian.Uint32(data[4:])))}
	if l, err := netlink.LinkDeserialize(hdr, data); err == nil {
		u.Link = linkOf(l)
	}
	return u
}

// nextAttr splits the first attribute off b; ok is false when b holds no
// (whole) attribute. A loop over it, rather than a callback per
// attribute, keeps the decoded entry off the heap.
func nextAttr(b []byte) (typ uint16, v, rest []byte, ok bool) {
	if len(b) < unix.SizeofRtAttr {
		return 0, nil, nil, false
	}
	l := int(binary.NativeEndian.Uint16(b))
	if l < unix.SizeofRtAttr || l > len(b) {
		return 0, nil, nil, false
	}
	typ = binary.NativeEndian.Uint16(b[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
	return typ, b[unix.SizeofRtAttr:l], b[min(nlmAlign(l), len(b)):], true
}

// addrOfBytes reads an address attribute as addrOf reads a net.IP.
func addrOfBytes(v []byte) netip.Addr {
	a, ok := netip.AddrFromSlice(v)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

// neighUpdate turns a neighbour or FDB notification into an Update.
func neighUpdate(del bool, data []byte) (dataplane.Update, bool) {
	n, ok := decodeNeigh(data)
	switch {
	case !ok:
	case n.family == unix.AF_BRIDGE && n.ip.IsValid():
		return dataplane.Update{Kind: dataplane.FDBUpdate, Deleted: del,
			FDB: dataplane.FDBEntry{LinkIndex: n.index, MAC: n.mac, Dst: n.ip}}, true
	case (n.family == unix.AF_INET || n.family == unix.AF_INET6) && (del || n.state&unix.NUD_PERMANENT != 0):
		// A deleted entry is reported failed, not permanent: report every
		// deletion, and only permanent entries otherwise.
		return dataplane.Update{Kind: dataplane.NeighUpdate, Deleted: del,
			Neigh: dataplane.Neigh{LinkIndex: n.index, IP: n.ip, MAC: n.mac}}, true
	}
	return dataplane.Update{}, false
}

// routeUpdate turns a route notification into an Update: only main-table
// single-path routes with a destination are forwarded.
func routeUpdate(del bool, data []byte) (dataplane.Update, bool) {
	r, hasDst, ok := decodeRoute(data)
	if !ok || r.table != unix.RT_TABLE_MAIN || r.multipath || !hasDst {
		return dataplane.Update{}, false
	}
	return dataplane.Update{Kind: dataplane.RouteUpdate, Deleted: del, Route: r.route}, true
}
