// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/weft-net/weft/internal/netns"
)

// Ping sends ICMP (or, to an IPv6 address, ICMPv6) echo requests from
// inside namespace ns to dst and returns the round-trip time of the first
// reply. It tries up to count times, each waiting timeout. The socket is
// created inside ns, so the packets never touch the root namespace.
func Ping(ns string, dst netip.Addr, count int, timeout time.Duration) (time.Duration, error) {
	network, laddr, reply := "ip4:icmp", "0.0.0.0", byte(0)
	if dst.Is6() {
		network, laddr, reply = "ip6:ipv6-icmp", "::", 129
	}
	var conn net.PacketConn
	if err := netns.Do(ns, func() (err error) {
		conn, err = net.ListenPacket(network, laddr)
		return err
	}); err != nil {
		return 0, fmt.Errorf("ping %s from %s: %w", dst, ns, err)
	}
	defer conn.Close()
	id := uint16(time.Now().UnixNano())
	var last error
	for seq := 1; seq <= count; seq++ {
		msg := echoRequest(dst.Is6(), id, uint16(seq))
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
			// Raw ICMP sockets see every ICMP packet (ICMPv6 ones neighbour
			// discovery too): match the reply to our echo.
			if n >= 8 && buf[0] == reply && binary.BigEndian.Uint16(buf[4:]) == id &&
				binary.BigEndian.Uint16(buf[6:]) == uint16(seq) && from.String() == dst.String() {
				return time.Since(start), nil
			}
		}
	}
	return 0, fmt.Errorf("ping %s from %s: no reply after %d tries: %w", dst, ns, count, last)
}

// echoRequest builds an echo request. An ICMPv6 checksum covers a
// pseudo-header with the source address, which only the kernel knows: it
// fills that one in.
func echoRequest(v6 bool, id, seq uint16) []byte {
	b := make([]byte, 16)
	b[0] = 8 // echo request
	if v6 {
		b[0] = 128
	}
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], "weftping")
	if !v6 {
		binary.BigEndian.PutUint16(b[2:], icmpChecksum(b))
	}
	return b
}

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// tcpResult is what the receiving end of a test connection saw.
type tcpResult struct {
	n   int64
	sum []byte // SHA-256 of the bytes, when asked for
	err error
}

// openTCP listens on addr inside dstNS, connects to it from srcNS and
// returns the sending end. The receiving end reads until EOF or until
// recvFor has passed, hashing what it reads when hash is set (a stream
// benchmark must not pay for that), and reports once on the channel.
func openTCP(ctx context.Context, srcNS, dstNS, addr string, dialTimeout, recvFor time.Duration, hash bool) (net.Conn, <-chan tcpResult, error) {
	ln, err := netns.Listen(dstNS, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("tcp listen %s in %s: %w", addr, dstNS, err)
	}
	got := make(chan tcpResult, 1)
	go func() {
		c, err := ln.Accept()
		_ = ln.Close() // one connection per listener
		if err != nil {
			got <- tcpResult{err: err}
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(recvFor))
		w := io.Discard
		h := sha256.New()
		if hash {
			w = h
		}
		var r tcpResult
		r.n, r.err = io.CopyBuffer(w, c, make([]byte, streamChunk))
		if hash {
			r.sum = h.Sum(nil)
		}
		got <- r
	}()
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	conn, err := netns.DialContext(dctx, srcNS, "tcp", addr)
	cancel()
	if err != nil {
		_ = ln.Close() // ends the Accept above
		return nil, nil, fmt.Errorf("tcp connect %s from %s: %w", addr, srcNS, err)
	}
	return conn, got, nil
}

// TCPTransfer sends size bytes over TCP from namespace srcNS to dst (a
// listener opened in dstNS on dst:port) and checks that every byte arrived
// intact. It returns the achieved throughput in bytes per second.
func TCPTransfer(ctx context.Context, srcNS, dstNS string, dst netip.Addr, port uint16, size int64, timeout time.Duration) (float64, error) {
	addr := netip.AddrPortFrom(dst, port).String()
	conn, got, err := openTCP(ctx, srcNS, dstNS, addr, timeout, timeout, true)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	_ = conn.SetDeadline(start.Add(timeout))
	h := sha256.New()
	src := io.TeeReader(io.LimitReader(patternReader{}, size), h)
	if _, err := io.Copy(conn, src); err != nil {
		conn.Close()
		return 0, fmt.Errorf("tcp send to %s: %w", addr, err)
	}
	_ = conn.Close()
	var r tcpResult
	select {
	case r = <-got:
	case <-time.After(timeout):
		return 0, fmt.Errorf("tcp transfer to %s: receiver timed out", addr)
	}
	elapsed := time.Since(start)
	if r.err != nil {
		return 0, fmt.Errorf("tcp receive at %s: %w", addr, r.err)
	}
	match := bytes.Equal(r.sum, h.Sum(nil))
	if r.n != size || !match {
		return 0, fmt.Errorf("tcp transfer to %s: received %d of %d bytes (checksum match %t)", addr, r.n, size, match)
	}
	return float64(size) / elapsed.Seconds(), nil
}

// patternReader yields a non-trivial byte pattern, so corruption shows in the checksum.
type patternReader struct{}

func (patternReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return len(p), nil
}
