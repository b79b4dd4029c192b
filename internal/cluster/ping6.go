// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package cluster

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/weft-net/weft/internal/netns"
)

// Ping6 sends ICMPv6 echo requests from inside namespace ns to dst and
// returns the round-trip time of the first reply, as Ping does for IPv4.
// The kernel fills in the ICMPv6 checksum (it covers a pseudo-header with
// the source address, which only it knows).
func Ping6(ns string, dst netip.Addr, count int, timeout time.Duration) (time.Duration, error) {
	var conn net.PacketConn
	if err := netns.Do(ns, func() (err error) {
		conn, err = net.ListenPacket("ip6:ipv6-icmp", "::")
		return err
	}); err != nil {
		return 0, fmt.Errorf("ping %s from %s: %w", dst, ns, err)
	}
	defer conn.Close()
	id := uint16(time.Now().UnixNano())
	var last error
	for seq := 1; seq <= count; seq++ {
		msg := make([]byte, 16)
		msg[0] = 128 // echo request
		binary.BigEndian.PutUint16(msg[4:], id)
		binary.BigEndian.PutUint16(msg[6:], uint16(seq))
		copy(msg[8:], "weftping")
		start := time.Now()
		if _, err := conn.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
			last = err
			time.Sleep(timeout)
			continue
		}
		_ = conn.SetReadDeadline(start.Add(timeout))
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				last = err
				break
			}
			// Raw ICMPv6 sockets see neighbour discovery too: match our echo reply.
			if n >= 8 && buf[0] == 129 && binary.BigEndian.Uint16(buf[4:]) == id &&
				binary.BigEndian.Uint16(buf[6:]) == uint16(seq) && from.String() == dst.String() {
				return time.Since(start), nil
			}
		}
	}
	return 0, fmt.Errorf("ping %s from %s: no reply after %d tries: %w", dst, ns, count, last)
}
