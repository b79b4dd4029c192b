// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/weft-net/weft/backend/dataplane"
)

// reqTimeout bounds the wait for the kernel's acknowledgement (the kernel
// answers rtnetlink requests before the send returns; this only guards
// against the unexpected).
const reqTimeout = time.Minute

// reqConn sends the per-entry requests of a reconcile (neighbour, FDB and
// route changes) on a socket of its own: each request is built into one
// reused buffer and its acknowledgement read into another. Programming
// thousands of peers thus allocates nothing per entry and costs two system
// calls per entry, like iproute2's batch mode; the netlink library costs
// three and 20 allocations (0.8 KiB) per entry (BenchmarkRequestPath;
// Documentation/benchmarks.md). The messages are the ones
// the library would send (same header flags, attributes and order). Safe
// for concurrent use.
type reqConn struct {
	mu  sync.Mutex
	fd  int
	seq uint32
	req []byte
	ack []byte
}

// newReqConn opens a blocking NETLINK_ROUTE socket in ns.
func newReqConn(ns netns.NsHandle) (*reqConn, error) {
	fd, err := openNetlinkFD(ns)
	if err != nil {
		return nil, err
	}
	return &reqConn{fd: fd, req: make([]byte, 0, 256), ack: make([]byte, 8192)}, nil
}

// openNetlinkFD opens a NETLINK_ROUTE socket in ns for plain, blocking
// system calls, with a receive timeout of reqTimeout.
func openNetlinkFD(ns netns.NsHandle) (int, error) {
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return -1, err
	}
	// Our own descriptor of the socket, used with plain system calls (the
	// library's is in non-blocking mode for Go's poller).
	fd, err := unix.FcntlInt(uintptr(s.GetFd()), unix.F_DUPFD_CLOEXEC, 0)
	s.Close()
	if err != nil {
		return -1, fmt.Errorf("duplicate netlink socket: %w", err)
	}
	tv := unix.NsecToTimeval(reqTimeout.Nanoseconds())
	if err := errors.Join(unix.SetNonblock(fd, false), unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("set up netlink socket: %w", err)
	}
	return fd, nil
}

func (c *reqConn) close() error { return unix.Close(c.fd) }

// do sends the request that build appends to a netlink header and waits
// for its acknowledgement; a negative one is returned as a syscall.Errno.
func (c *reqConn) do(typ uint16, flags uint16, build func(b []byte) []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	b := c.req[:unix.SizeofNlMsghdr]
	ne := binary.NativeEndian
	ne.PutUint16(b[4:], typ)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags)
	ne.PutUint32(b[8:], c.seq)
	ne.PutUint32(b[12:], 0)
	b = build(b)
	ne.PutUint32(b[0:], uint32(len(b)))
	c.req = b[:0]
	if err := retryEINTR(func() error { _, err := unix.Write(c.fd, b); return err }); err != nil {
		return fmt.Errorf("send netlink request: %w", err)
	}
	for {
		var n int
		err := retryEINTR(func() (err error) { n, err = unix.Read(c.fd, c.ack); return err })
		if err != nil {
			return fmt.Errorf("receive netlink acknowledgement: %w", err)
		}
		if done, err := c.parseAck(c.ack[:n]); done {
			return err
		}
	}
}

// parseAck looks for the acknowledgement of the current request in one
// datagram; done is false when it holds none (a stale reply).
func (c *reqConn) parseAck(b []byte) (done bool, err error) {
	ne := binary.NativeEndian
	for len(b) >= unix.SizeofNlMsghdr {
		l := int(ne.Uint32(b[0:]))
		if l < unix.SizeofNlMsghdr || l > len(b) {
			return true, errors.New("malformed netlink reply")
		}
		typ, seq := ne.Uint16(b[4:]), ne.Uint32(b[8:])
		if seq == c.seq {
			switch typ {
			case unix.NLMSG_ERROR:
				if l < unix.SizeofNlMsghdr+4 {
					return true, errors.New("short netlink error reply")
				}
				if errno := -int32(ne.Uint32(b[unix.SizeofNlMsghdr:])); errno != 0 {
					return true, syscall.Errno(errno)
				}
				return true, nil
			case unix.NLMSG_DONE:
				return true, nil
			}
		}
		b = b[min(nlmAlign(l), len(b)):]
	}
	return false, nil
}

func retryEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func nlmAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// appendAttr appends a route attribute (rtattr + data, padded to 4 bytes).
func appendAttr(b []byte, typ uint16, data []byte) []byte {
	l := unix.SizeofRtAttr + len(data)
	b = binary.NativeEndian.AppendUint16(b, uint16(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for range nlmAlign(l) - l {
		b = append(b, 0)
	}
	return b
}

func appendAddrAttr(b []byte, typ uint16, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		return appendAttr(b, typ, v[:])
	}
	v := a.As16()
	return appendAttr(b, typ, v[:])
}

// appendNdmsg appends struct ndmsg.
func appendNdmsg(b []byte, family uint8, index int, state uint16, flags, typ uint8) []byte {
	b = append(b, family, 0, 0, 0)
	b = binary.NativeEndian.AppendUint32(b, uint32(index))
	b = binary.NativeEndian.AppendUint16(b, state)
	return append(b, flags, typ)
}

// neigh sends RTM_NEWNEIGH (with NLM_F_CREATE|NLM_F_REPLACE) or
// RTM_DELNEIGH for a permanent entry: a neighbour (family AF_INET or
// AF_INET6, type RTN_UNICAST) or an FDB entry (AF_BRIDGE, NTF_SELF).
func (c *reqConn) neigh(del, fdb bool, index int, ip netip.Addr, mac [6]byte) error {
	typ, flags := uint16(unix.RTM_NEWNEIGH), uint16(unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
	if del {
		typ, flags = unix.RTM_DELNEIGH, 0
	}
	family, ntf, ntype := uint8(unix.AF_INET), uint8(0), uint8(unix.RTN_UNICAST)
	switch {
	case fdb:
		family, ntf, ntype = unix.AF_BRIDGE, unix.NTF_SELF, 0
	case ip.Is6():
		family = unix.AF_INET6
	}
	return c.do(typ, flags, func(b []byte) []byte {
		b = appendNdmsg(b, family, index, unix.NUD_PERMANENT, ntf, ntype)
		b = appendAddrAttr(b, unix.NDA_DST, ip)
		return appendAttr(b, unix.NDA_LLADDR, mac[:])
	})
}

// route sends RTM_NEWROUTE (NLM_F_CREATE|NLM_F_REPLACE) or RTM_DELROUTE
// for a main-table unicast route; a delete matches Dst, link, protocol and,
// when set, metric. RTA_PRIORITY goes with a delete too: without it the
// kernel deletes the lowest-metric route that matches the rest.
func (c *reqConn) route(del bool, r dataplane.Route) error {
	typ, flags := uint16(unix.RTM_NEWROUTE), uint16(unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
	rtype, scope, proto := uint8(unix.RTN_UNICAST), uint8(unix.RT_SCOPE_UNIVERSE), r.Protocol
	var rflags uint32
	switch {
	case del:
		typ, flags, rtype = unix.RTM_DELROUTE, 0, 0
	case !r.Gw.IsValid():
		scope = unix.RT_SCOPE_LINK
	}
	if !del && r.OnLink {
		rflags = unix.RTNH_F_ONLINK
	}
	if proto == 0 && !del {
		proto = unix.RTPROT_BOOT
	}
	family := uint8(unix.AF_INET)
	if r.Dst.Addr().Is6() {
		family = unix.AF_INET6
	}
	return c.do(typ, flags, func(b []byte) []byte {
		b = append(b, family, uint8(r.Dst.Bits()), 0, 0, unix.RT_TABLE_MAIN, proto, scope, rtype)
		b = binary.NativeEndian.AppendUint32(b, rflags)
		b = appendAddrAttr(b, unix.RTA_DST, r.Dst.Addr())
		if !del && r.Gw.IsValid() {
			b = appendAddrAttr(b, unix.RTA_GATEWAY, r.Gw)
		}
		var u32 [4]byte
		binary.NativeEndian.PutUint32(u32[:], uint32(r.LinkIndex))
		b = appendAttr(b, unix.RTA_OIF, u32[:])
		if r.Metric != 0 {
			binary.NativeEndian.PutUint32(u32[:], r.Metric)
			b = appendAttr(b, unix.RTA_PRIORITY, u32[:])
		}
		return b
	})
}
