// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package masq

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/weft-net/weft/internal/nstest"
)

// topo is a node namespace between a pod, the outside and a pod of another
// node, in both families:
//
//	pod 10.244.1.2 ─pod0─ node ─eth0─ outside 198.18.0.2
//	                        └─vx0─ remote pod 10.244.2.2
//
// The node holds 10.244.1.1/24 on pod0 (the bridge address) and 10.244.1.0/32
// on vx0 (as flannel.1 does), 198.18.0.1/24 on eth0. vx0 stands in for the
// VXLAN device: masquerade only looks at addresses and the egress device's
// address, so a veth shows the same behaviour. The outside routes the pod
// network via the node. IPv6 mirrors it in fd00:10:244::/48 and
// 2001:db8:18::/64.
type topo struct {
	node, pod, outside, remote *nstest.NS
}

var (
	podNet4   = netip.MustParsePrefix("10.244.0.0/16")
	nodeNet4  = netip.MustParsePrefix("10.244.1.0/24")
	podNet6   = netip.MustParsePrefix("fd00:10:244::/48")
	nodeNet6  = netip.MustParsePrefix("fd00:10:244:1::/64")
	podIP4    = netip.MustParseAddr("10.244.1.2")
	podIP6    = netip.MustParseAddr("fd00:10:244:1::2")
	nodeIP4   = netip.MustParseAddr("198.18.0.1")
	nodeIP6   = netip.MustParseAddr("2001:db8:18::1")
	outIP4    = netip.MustParseAddr("198.18.0.2")
	outIP6    = netip.MustParseAddr("2001:db8:18::2")
	vtepIP4   = netip.MustParseAddr("10.244.1.0")
	vtepIP6   = netip.MustParseAddr("fd00:10:244:1::ffff")
	remoteIP4 = netip.MustParseAddr("10.244.2.2")
	remoteIP6 = netip.MustParseAddr("fd00:10:244:2::2")
)

func newTopo(t *testing.T) *topo {
	t.Helper()
	tp := &topo{node: nstest.New(t), pod: nstest.New(t), outside: nstest.New(t), remote: nstest.New(t)}
	nstest.Veth(t, tp.node, "pod0", tp.pod, "eth0")
	nstest.Veth(t, tp.node, "eth0", tp.outside, "eth0")
	nstest.Veth(t, tp.node, "vx0", tp.remote, "eth0")
	script := map[*nstest.NS][][]string{
		tp.node: {
			{"addr", "add", "10.244.1.1/24", "dev", "pod0"},
			{"addr", "add", "fd00:10:244:1::1/64", "dev", "pod0", "nodad"},
			{"addr", "add", "198.18.0.1/24", "dev", "eth0"},
			{"addr", "add", "2001:db8:18::1/64", "dev", "eth0", "nodad"},
			{"addr", "add", "10.244.1.0/32", "dev", "vx0"},
			{"addr", "add", "fd00:10:244:1::ffff/128", "dev", "vx0", "nodad"},
			{"link", "set", "pod0", "up"}, {"link", "set", "eth0", "up"}, {"link", "set", "vx0", "up"},
			{"route", "add", "10.244.2.0/24", "dev", "vx0"},
			{"route", "add", "fd00:10:244:2::/64", "dev", "vx0"},
		},
		tp.pod: {
			{"addr", "add", "10.244.1.2/24", "dev", "eth0"},
			{"addr", "add", "fd00:10:244:1::2/64", "dev", "eth0", "nodad"},
			{"link", "set", "eth0", "up"},
			{"route", "add", "default", "via", "10.244.1.1"},
			{"route", "add", "default", "via", "fd00:10:244:1::1"},
		},
		tp.outside: {
			{"addr", "add", "198.18.0.2/24", "dev", "eth0"},
			{"addr", "add", "2001:db8:18::2/64", "dev", "eth0", "nodad"},
			{"link", "set", "eth0", "up"},
			{"route", "add", "10.244.0.0/16", "via", "198.18.0.1"},
			{"route", "add", "fd00:10:244::/48", "via", "2001:db8:18::1"},
		},
		tp.remote: {
			{"addr", "add", "10.244.2.2/24", "dev", "eth0"},
			{"addr", "add", "fd00:10:244:2::2/64", "dev", "eth0", "nodad"},
			{"link", "set", "eth0", "up"},
			{"route", "add", "default", "via", "10.244.1.0", "dev", "eth0", "onlink"},
			{"route", "add", "default", "via", "fd00:10:244:1::ffff", "dev", "eth0", "onlink"},
		},
	}
	for ns, cmds := range script {
		for _, c := range cmds {
			ns.MustRun(t, append([]string{"ip"}, c...)...)
		}
	}
	return tp
}

// testConfig is the dual-stack config for the node of newTopo.
func testConfig() Config {
	log, _ := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	return Config{
		PodNetworks:  []netip.Prefix{podNet4, podNet6},
		NodeSubnets:  []netip.Prefix{nodeNet4, nodeNet6},
		Masquerade:   true,
		ForwardRules: true,
		Interval:     100 * time.Millisecond,
		Log:          log,
	}
}

// newManager returns a Manager for ns with forwarding enabled there.
func newManager(t *testing.T, cfg Config, ns *nstest.NS) *Manager {
	t.Helper()
	m, err := New(cfg, WithNetNSFd(int(ns.Handle)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := m.EnsureIPForwarding(); err != nil {
		t.Fatalf("EnsureIPForwarding: %v", err)
	}
	return m
}

// sourceSeen sends UDP datagrams from namespace from to dst and returns the
// source address dst's namespace sees, or the zero Addr if nothing arrived
// within wait. Both sockets are opened inside their namespaces.
func sourceSeen(t *testing.T, from, to *nstest.NS, dst netip.Addr, wait time.Duration) netip.Addr {
	t.Helper()
	const port = 40000
	var ln *net.UDPConn
	if err := to.Do(func() (err error) {
		ln, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, port)))
		return err
	}); err != nil {
		t.Fatalf("listen in %s: %v", to.Name, err)
	}
	defer ln.Close()
	var c *net.UDPConn
	if err := from.Do(func() (err error) {
		c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, port)))
		return err
	}); err != nil {
		t.Fatalf("dial from %s: %v", from.Name, err)
	}
	defer c.Close()
	// Resend: the first datagram may wait for neighbour resolution.
	deadline := time.Now().Add(wait)
	buf := make([]byte, 64)
	for time.Now().Before(deadline) {
		if _, err := c.Write([]byte("weft")); err != nil && !isUnreachable(err) {
			t.Fatalf("send from %s to %s: %v", from.Name, dst, err)
		}
		_ = ln.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, src, err := ln.ReadFromUDPAddrPort(buf)
		if err == nil {
			return src.Addr().Unmap()
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read in %s: %v", to.Name, err)
		}
	}
	return netip.Addr{}
}

// isUnreachable reports an ICMP error reported on a connected UDP socket by
// an earlier datagram, which a dropped-forwarding test expects.
func isUnreachable(err error) bool {
	return strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), "unreachable") ||
		strings.Contains(err.Error(), "not permitted")
}

// nft runs nft in ns.
func nft(t *testing.T, ns *nstest.NS, args ...string) string {
	t.Helper()
	return ns.MustRun(t, append([]string{"nft"}, args...)...)
}
