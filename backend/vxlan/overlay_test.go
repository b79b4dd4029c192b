// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/weft-net/weft/backend"
	"github.com/weft-net/weft/backend/dataplane/netlinkdp"
	"github.com/weft-net/weft/internal/nstest"
	"github.com/weft-net/weft/subnet"
)

// overlayNode is one node of a two-node overlay on a veth underlay.
type overlayNode struct {
	ns    *nstest.NS
	n     *node
	lease subnet.Lease
}

// newOverlay builds nodes 1 and 2 (198.18.0.1/.2, 2001:db8:18::1/2, leases
// 10.244.1.0/24 and 10.244.2.0/24, fd00:10:244:1::/64 and :2::/64), each
// running a backend that knows the other as its peer.
func newOverlay(t testing.TB, offload string) [2]*overlayNode {
	a, b := nstest.New(t), nstest.New(t)
	nstest.Veth(t, a, "eth0", b, "eth0")
	var nodes [2]*overlayNode
	for i, ns := range []*nstest.NS{a, b} {
		ns.MustRun(t, "ip", "addr", "add", fmt.Sprintf("198.18.0.%d/24", i+1), "dev", "eth0")
		ns.MustRun(t, "ip", "addr", "add", fmt.Sprintf("2001:db8:18::%d/64", i+1), "dev", "eth0", "nodad")
		ns.MustRun(t, "ip", "link", "set", "eth0", "up")
		log, _ := test.NewNullLogger()
		dp, err := netlinkdp.New(ns.Handle, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = dp.Close() })
		l, err := dp.LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		pub, pub6 := netip.MustParseAddr(fmt.Sprintf("198.18.0.%d", i+1)), netip.MustParseAddr(fmt.Sprintf("2001:db8:18::%d", i+1))
		e := &env{dp: dp, hand: kernelHand{ns}, ext: backend.ExternalInterface{Name: "eth0", Index: l.Index, MTU: l.MTU,
			IfaceAddr: pub, PublicIP: pub, IfaceAddrV6: pub6, PublicIPv6: pub6}}
		own := lease(i+1, pub.String(), true)
		cfg := subnet.BackendConfig{Type: "vxlan", VNI: 1, Port: 8472, TxChecksumOffload: offload}
		n := startNodeTB(t, e, cfg, Options{DualStack: true}, own)
		own.Attrs = n.attrs
		nodes[i] = &overlayNode{ns: ns, n: n, lease: own}
	}
	nodes[0].n.b.SetPeers([]subnet.Lease{nodes[1].lease})
	nodes[1].n.b.SetPeers([]subnet.Lease{nodes[0].lease})
	for _, nd := range nodes {
		waitForTB(t, "peer programmed", func() bool { return nd.n.b.Status().Peers == 1 })
	}
	return nodes
}

// TestKernelTwoNodeOverlay sends real packets between the nodes' overlay
// addresses through the VXLAN tunnel: UDP both ways over IPv4 and IPv6, and
// a 4 MiB TCP transfer (MTU right end to end).
func TestKernelTwoNodeOverlay(t *testing.T) {
	nodes := newOverlay(t, subnet.OffloadAuto)
	for _, fam := range []struct{ net, a, b string }{
		{"udp4", "10.244.1.0", "10.244.2.0"},
		{"udp6", "fd00:10:244:1::", "fd00:10:244:2::"},
	} {
		t.Run(fam.net, func(t *testing.T) { udpEcho(t, nodes, fam.net, fam.a, fam.b) })
	}
	t.Run("tcp 4MiB", func(t *testing.T) {
		payload := make([]byte, 4<<20)
		_, _ = rand.Read(payload)
		if n, err := tcpTransfer(nodes, payload); err != nil || n != 4<<20 {
			t.Fatalf("transferred %d bytes: %v", n, err)
		}
	})
	// The packets went through the tunnel: node 2's VXLAN device received them.
	if rx := rxBytes(t, nodes[1].ns, "flannel.1"); rx < 4<<20 {
		t.Errorf("flannel.1 on node 2 received %d bytes, want at least 4 MiB", rx)
	}
}

func rxBytes(t *testing.T, ns *nstest.NS, dev string) uint64 {
	out := ns.MustRun(t, "ip", "-s", "-j", "link", "show", dev)
	var ls []struct {
		Stats struct {
			RX struct {
				Bytes uint64 `json:"bytes"`
			} `json:"rx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 1 {
		t.Fatalf("parse ip -s -j link show %s: %v", dev, err)
	}
	return ls[0].Stats.RX.Bytes
}

// udpEcho sends from node 1's overlay address to node 2's and back.
func udpEcho(t *testing.T, nodes [2]*overlayNode, network, from, to string) {
	var srv *net.UDPConn
	mustT(t, nodes[1].ns.Do(func() (err error) {
		srv, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(to), 7777)))
		return err
	}))
	defer srv.Close()
	var cli *net.UDPConn
	mustT(t, nodes[0].ns.Do(func() (err error) {
		cli, err = net.DialUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(from), 0)),
			net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(to), 7777)))
		return err
	}))
	defer cli.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			n, peer, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = srv.WriteToUDPAddrPort(append([]byte("echo "), buf[:n]...), peer)
		}
	}()
	buf := make([]byte, 64)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := cli.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		_ = cli.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := cli.Read(buf)
		if err == nil {
			if got := string(buf[:n]); got != "echo hello" {
				t.Fatalf("reply %q, want %q", got, "echo hello")
			}
			return
		}
	}
	t.Fatalf("no UDP reply from %s to %s within 30s", to, from)
}

// tcpTransfer sends payload from node 1 (10.244.1.0) to node 2
// (10.244.2.0) over TCP and checks it arrives intact.
func tcpTransfer(nodes [2]*overlayNode, payload []byte) (int, error) {
	var ln net.Listener
	if err := nodes[1].ns.Do(func() (err error) {
		ln, err = net.Listen("tcp4", "10.244.2.0:7778")
		return err
	}); err != nil {
		return 0, err
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(60 * time.Second))
		b, _ := io.ReadAll(c)
		got <- b
	}()
	var c net.Conn
	if err := nodes[0].ns.Do(func() (err error) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(10, 244, 1, 0)}, Timeout: 30 * time.Second}
		c, err = d.Dial("tcp4", "10.244.2.0:7778")
		return err
	}); err != nil {
		return 0, err
	}
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	n, err := c.Write(payload)
	_ = c.Close()
	if err != nil {
		return n, err
	}
	b := <-got
	if !bytes.Equal(b, payload) {
		return len(b), fmt.Errorf("received %d bytes, not the %d sent", len(b), len(payload))
	}
	return len(b), nil
}
