// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/weft-net/weft/backend/dataplane"
)

// dumpBuffer holds one datagram of a dump: the kernel fills a dump's
// datagrams up to the largest read buffer it has seen, capped at 32 KiB.
const dumpBuffer = 64 << 10

// neighMsg is one neighbour (AF_INET, AF_INET6) or FDB (AF_BRIDGE) entry
// of a dump: the fields of struct ndmsg, NDA_DST and NDA_LLADDR.
type neighMsg struct {
	family uint8
	index  int
	state  uint16
	ip     netip.Addr
	mac    [6]byte
}

// routeMsg is one route of a dump: struct rtmsg's table and type, whether
// it is multipath, and the fields a dataplane.Route carries. A route with
// no RTA_DST is a default route (0.0.0.0/0 or ::/0), as iproute2 and the
// library read it.
type routeMsg struct {
	table     uint32
	typ       uint8
	multipath bool
	route     dataplane.Route
}

// handleDumper is the kernel's dumper: the library's handle for links (a
// small table, read rarely), and a socket of its own for the address,
// neighbour, FDB and route tables, the last three read at every full
// reconcile with thousands of entries each. Those are read into one reused buffer and
// decoded in place, only the fields weft uses, and each entry is passed
// to the caller as it is read. The library's dumps allocated about 2.5 KB
// per entry on the way (every message copied, every attribute parsed into
// a slice, a netlink.Route or Neigh per entry): 25 MB of garbage per full
// reconcile at 10,000 peers, which the collector, working through it with
// the peer set live, turned into weftd's peak memory.
type handleDumper struct {
	*netlink.Handle
	mu  sync.Mutex // one dump at a time on fd
	fd  int
	seq uint32
	req []byte
	buf []byte
}

func newHandleDumper(h *netlink.Handle, ns netns.NsHandle) (*handleDumper, error) {
	fd, err := openNetlinkFD(ns)
	if err != nil {
		return nil, fmt.Errorf("open netlink dump socket: %w", err)
	}
	return &handleDumper{Handle: h, fd: fd, req: make([]byte, 0, 64), buf: make([]byte, dumpBuffer)}, nil
}

func (h *handleDumper) close() { _ = unix.Close(h.fd) }

// NeighIter dumps the neighbour (family AF_INET or AF_INET6) or FDB
// (AF_BRIDGE) entries of the link index, passing each to f until f returns
// false; f must not keep the pointer. An interrupted dump has passed what
// it read to f before returning ErrDumpInterrupted.
func (h *handleDumper) NeighIter(index, family int, f func(*neighMsg) bool) error {
	// struct ndmsg with the family and the link: the kernel lists only
	// that link's entries where it filters (FDB dumps always do).
	var hdr [unix.SizeofNdMsg]byte
	hdr[0] = uint8(family)
	binary.NativeEndian.PutUint32(hdr[4:], uint32(index))
	// One entry for the whole dump, decoded into in turn: f sees it only
	// during its call.
	var n neighMsg
	err := h.dump(unix.RTM_GETNEIGH, hdr[:], func(typ uint16, data []byte) bool {
		if typ != unix.RTM_NEWNEIGH {
			return true
		}
		var ok bool
		if n, ok = decodeNeigh(data); !ok || int(n.family) != family || n.index != index {
			return true // the kernel may ignore the filter and dump every link
		}
		return f(&n)
	})
	if err != nil {
		return fmt.Errorf("dump neighbours of link %d: %w", index, err)
	}
	return nil
}

// AddrList dumps the addresses of link (nil: of every link) in family
// (FAMILY_ALL: both), as the library's AddrList does, on the dump socket.
// Only LinkIndex and IPNet are filled in, the fields weft reads. Admission
// reads every address of the node at each resync; decoded in place, that
// costs an allocation per address instead of a parsed message.
func (h *handleDumper) AddrList(link netlink.Link, family int) ([]netlink.Addr, error) {
	index := 0
	if link != nil {
		index = link.Attrs().Index
	}
	var hdr [unix.SizeofIfAddrmsg]byte
	hdr[0] = uint8(family)
	var out []netlink.Addr
	err := h.dump(unix.RTM_GETADDR, hdr[:], func(typ uint16, data []byte) bool {
		if typ != unix.RTM_NEWADDR {
			return true
		}
		a, ok := decodeAddr(data)
		if ok && (index == 0 || a.LinkIndex == index) && (family == netlink.FAMILY_ALL || int(data[0]) == family) {
			out = append(out, a)
		}
		return true
	})
	return out, err
}

// decodeAddr decodes struct ifaddrmsg and the address as the library (and
// libnl) reads it: IFA_LOCAL when present, unless it equals IFA_ADDRESS
// on IPv4 (then IFA_ADDRESS with the prefix length); a local address with
// a peer is a host address.
func decodeAddr(data []byte) (netlink.Addr, bool) {
	if len(data) < unix.SizeofIfAddrmsg {
		return netlink.Addr{}, false
	}
	family, plen := data[0], int(data[1])
	index := int(int32(binary.NativeEndian.Uint32(data[4:])))
	var local, addr []byte
	for b := data[unix.SizeofIfAddrmsg:]; ; {
		typ, v, rest, ok := nextAttr(b)
		if !ok {
			break
		}
		b = rest
		switch typ {
		case unix.IFA_LOCAL:
			local = v
		case unix.IFA_ADDRESS:
			addr = v
		}
	}
	var n *net.IPNet
	switch {
	case local != nil && (family != unix.AF_INET || addr == nil || !bytes.Equal(local, addr)):
		n = &net.IPNet{IP: bytes.Clone(local), Mask: net.CIDRMask(8*len(local), 8*len(local))}
	case addr != nil:
		n = &net.IPNet{IP: bytes.Clone(addr), Mask: net.CIDRMask(plen, 8*len(addr))}
	default:
		return netlink.Addr{}, false
	}
	return netlink.Addr{LinkIndex: index, IPNet: n}, true
}

// RouteIter dumps the routes of a family (every table), passing each to f
// until f returns false; f must not keep the pointer. An interrupted dump has passed what it read to f
// before returning ErrDumpInterrupted.
func (h *handleDumper) RouteIter(family int, f func(*routeMsg) bool) error {
	var hdr [unix.SizeofRtMsg]byte
	hdr[0] = uint8(family)
	var r routeMsg // as in NeighIter, one for the whole dump
	return h.dump(unix.RTM_GETROUTE, hdr[:], func(typ uint16, data []byte) bool {
		if typ != unix.RTM_NEWROUTE {
			return true
		}
		var ok bool
		if r, _, ok = decodeRoute(data); !ok || data[0] != uint8(family) {
			return true
		}
		return f(&r)
	})
}

// dump sends a dump request (typ with the family header hdr) and passes
// each reply message's type and payload to f, until the kernel's
// NLMSG_DONE; after f returns false the rest of the dump is read and
// dropped, so the next dump starts on a clean socket. A reply flagged
// NLM_F_DUMP_INTR (the table changed meanwhile) makes the dump return
// ErrDumpInterrupted after f has seen everything.
func (h *handleDumper) dump(typ uint16, hdr []byte, f func(typ uint16, data []byte) bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	ne := binary.NativeEndian
	b := h.req[:unix.SizeofNlMsghdr]
	ne.PutUint32(b[0:], uint32(unix.SizeofNlMsghdr+len(hdr)))
	ne.PutUint16(b[4:], typ)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(b[8:], h.seq)
	ne.PutUint32(b[12:], 0)
	b = append(b, hdr...)
	h.req = b[:0]
	if err := retryEINTR(func() error { _, err := unix.Write(h.fd, b); return err }); err != nil {
		return fmt.Errorf("send netlink dump request: %w", err)
	}
	r := dumpReader{seq: h.seq, more: true, f: f}
	for {
		var n, flags int
		err := retryEINTR(func() (err error) { n, _, flags, _, err = unix.Recvmsg(h.fd, h.buf, nil, 0); return err })
		if err != nil {
			return fmt.Errorf("receive netlink dump: %w", err)
		}
		if flags&unix.MSG_TRUNC != 0 {
			return fmt.Errorf("receive netlink dump: a datagram of more than %d bytes was truncated", len(h.buf))
		}
		if done, err := r.read(h.buf[:n]); done {
			return err
		}
	}
}

// dumpReader follows one dump through its datagrams.
type dumpReader struct {
	seq         uint32
	interrupted bool // a reply was flagged NLM_F_DUMP_INTR
	more        bool // f has not asked to stop
	f           func(typ uint16, data []byte) bool
}

// read handles the messages of one datagram; done is true at the end of
// the dump, with its outcome.
func (r *dumpReader) read(b []byte) (done bool, err error) {
	ne := binary.NativeEndian
	for len(b) >= unix.SizeofNlMsghdr {
		l := int(ne.Uint32(b[0:]))
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return true, errors.New("receive netlink dump: malformed message")
		}
		typ, flags, seq := ne.Uint16(b[4:]), ne.Uint16(b[6:]), ne.Uint32(b[8:])
		data := b[unix.SizeofNlMsghdr:l]
		b = b[min(nlmAlign(l), len(b)):]
		if seq != r.seq {
			continue // the rest of an earlier dump that ended in an error
		}
		r.interrupted = r.interrupted || flags&unix.NLM_F_DUMP_INTR != 0
		switch {
		case typ == unix.NLMSG_DONE || typ == unix.NLMSG_ERROR:
			if len(data) >= 4 {
				if errno := -int32(ne.Uint32(data)); errno != 0 {
					return true, syscall.Errno(errno)
				}
			}
			if r.interrupted {
				return true, netlink.ErrDumpInterrupted
			}
			return true, nil
		case r.more:
			r.more = r.f(typ, data)
		}
	}
	return false, nil
}

// decodeNeigh decodes struct ndmsg and NDA_DST and NDA_LLADDR. An
// NDA_LLADDR of 4 or 16 bytes is an address (of an IP tunnel's
// neighbour), not a MAC, and is left out.
func decodeNeigh(data []byte) (neighMsg, bool) {
	if len(data) < unix.SizeofNdMsg {
		return neighMsg{}, false
	}
	n := neighMsg{
		family: data[0],
		index:  int(int32(binary.NativeEndian.Uint32(data[4:]))),
		state:  binary.NativeEndian.Uint16(data[8:]),
	}
	for b := data[unix.SizeofNdMsg:]; ; {
		typ, v, rest, ok := nextAttr(b)
		if !ok {
			return n, true
		}
		b = rest
		switch {
		case typ == unix.NDA_DST:
			n.ip = addrOfBytes(v)
		case typ == unix.NDA_LLADDR && len(v) != 4 && len(v) != 16:
			copy(n.mac[:], v)
		}
	}
}

// decodeRoute decodes struct rtmsg and the attributes a dataplane.Route
// carries; hasDst is false for a route without RTA_DST, which is given
// its family's default destination.
func decodeRoute(data []byte) (r routeMsg, hasDst, ok bool) {
	if len(data) < unix.SizeofRtMsg {
		return routeMsg{}, false, false
	}
	family, dstLen := data[0], int(data[1])
	r.table, r.typ = uint32(data[4]), data[7]
	flags := binary.NativeEndian.Uint32(data[8:])
	r.route = dataplane.Route{Protocol: data[5], OnLink: flags&unix.RTNH_F_ONLINK != 0}
	for b := data[unix.SizeofRtMsg:]; ; {
		typ, v, rest, ok := nextAttr(b)
		if !ok {
			break
		}
		b = rest
		switch typ {
		case unix.RTA_DST:
			if a := addrOfBytes(v); a.IsValid() {
				r.route.Dst, hasDst = netip.PrefixFrom(a, dstLen-8*(len(v)-a.BitLen()/8)), true
			}
		case unix.RTA_GATEWAY:
			r.route.Gw = addrOfBytes(v)
		case unix.RTA_PREFSRC:
			r.route.Src = addrOfBytes(v)
		case unix.RTA_OIF:
			if len(v) >= 4 {
				r.route.LinkIndex = int(int32(binary.NativeEndian.Uint32(v)))
			}
		case unix.RTA_PRIORITY:
			if len(v) >= 4 {
				r.route.Metric = binary.NativeEndian.Uint32(v)
			}
		case unix.RTA_TABLE:
			if len(v) >= 4 {
				r.table = binary.NativeEndian.Uint32(v)
			}
		case unix.RTA_MULTIPATH:
			r.multipath = true
		}
	}
	if !hasDst {
		switch family {
		case unix.AF_INET:
			r.route.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), dstLen)
		case unix.AF_INET6:
			r.route.Dst = netip.PrefixFrom(netip.IPv6Unspecified(), dstLen)
		}
	}
	return r, hasDst, true
}
