// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/weft-net/weft/backend/dataplane"
)

var _ dataplane.Dataplane = (*Dataplane)(nil)

// DefaultReceiveBuffer is the receive buffer of notification sockets: large
// enough that programming thousands of peers rarely overruns it (an overrun
// costs a full resync, not correctness).
const DefaultReceiveBuffer = 8 << 20

// Dataplane programs one network namespace over netlink. Build it with New;
// the zero value is not usable. Close releases its sockets.
type Dataplane struct {
	h    *netlink.Handle
	dump dumper // dumpSock, but for tests; read tables only through retryDump
	// dumpSock is the kernel's dumper, closed with the Dataplane.
	dumpSock *handleDumper
	ns       netns.NsHandle // our own duplicate of the caller's handle
	ioctl    *nl.NetlinkSocket
	req      *reqConn // neighbour, FDB and route changes
	log      logrus.FieldLogger
	// interrupted counts dumps the kernel reported interrupted.
	interrupted atomic.Uint64
	// retryPause is the first pause between attempts of an interrupted
	// dump (see retryDump); zero retries at once.
	retryPause time.Duration
	sizes      dumpSizes
	// ReceiveBuffer is the notification socket buffer size in bytes; set
	// it before calling Watch.
	ReceiveBuffer int
}

// New opens netlink sockets in the namespace ns (netns.None() means the
// caller's current namespace). The handle is duplicated: the caller may
// close ns after New returns.
func New(ns netns.NsHandle, log logrus.FieldLogger) (*Dataplane, error) {
	own := netns.None()
	if ns.IsOpen() {
		fd, err := unix.FcntlInt(uintptr(ns), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("duplicate netns handle: %w", err)
		}
		own = netns.NsHandle(fd)
	}
	h, err := netlink.NewHandleAt(own, unix.NETLINK_ROUTE)
	if err != nil {
		_ = own.Close()
		return nil, fmt.Errorf("open netlink handle: %w", err)
	}
	s, err := nl.GetNetlinkSocketAt(own, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		_ = own.Close()
		return nil, fmt.Errorf("open ethtool socket: %w", err)
	}
	req, err := newReqConn(own)
	if err != nil {
		s.Close()
		h.Close()
		_ = own.Close()
		return nil, fmt.Errorf("open netlink request socket: %w", err)
	}
	dump, err := newHandleDumper(h, own)
	if err != nil {
		_ = req.close()
		s.Close()
		h.Close()
		_ = own.Close()
		return nil, err
	}
	return &Dataplane{h: h, dump: dump, dumpSock: dump, ns: own, ioctl: s, req: req, log: log, ReceiveBuffer: DefaultReceiveBuffer,
		retryPause: time.Millisecond}, nil
}

// Close releases the sockets and the namespace handle.
func (d *Dataplane) Close() error {
	d.h.Close()
	d.dumpSock.close()
	d.ioctl.Close()
	err := d.req.close()
	if d.ns.IsOpen() {
		err = errors.Join(err, d.ns.Close())
	}
	return err
}

func ipOf(a netip.Addr) net.IP {
	if !a.IsValid() {
		return nil
	}
	return net.IP(a.AsSlice())
}

func addrOf(ip net.IP) netip.Addr {
	if ip4 := ip.To4(); ip4 != nil {
		ip = ip4
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	return a
}

func ipNetOf(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: ipOf(p.Addr()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) netip.Prefix {
	if n == nil {
		return netip.Prefix{}
	}
	a := addrOf(n.IP)
	ones, bits := n.Mask.Size()
	if a.Is4() && bits == 128 {
		ones -= 96
	}
	return netip.PrefixFrom(a, ones)
}

func macOf(hw net.HardwareAddr) (m [6]byte) {
	copy(m[:], hw)
	return m
}

func familyOf(f dataplane.Family) int {
	if f == dataplane.IPv6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// gone reports whether err means "already absent", which deletes treat as success.
func gone(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) ||
		errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EADDRNOTAVAIL)
}
