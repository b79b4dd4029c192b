// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp_test

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/backend/dataplane/dataplanetest"
	"github.com/weft-net/weft/backend/dataplane/netlinkdp"
	"github.com/weft-net/weft/backend/vxlan"
)

const benchPeers = 5000

// benchPeer is the three entries of one VXLAN peer: FDB, neighbour, route.
type benchPeer struct {
	fdb   dataplane.FDBEntry
	neigh dataplane.Neigh
	route dataplane.Route
}

// benchPeerSet returns the entries of n peers on link index, laid out as
// the VXLAN backend's benchmarks lay them out (subnets 10.244.2.0/24 … ,
// public IPs in 198.19.0.0/16).
func benchPeerSet(n, index int) []benchPeer {
	out := make([]benchPeer, n)
	for i := range out {
		j := i + 2
		sn := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(244 + j/256), byte(j % 256), 0}), 24)
		mac := [6]byte{2, 0, 0, 0, byte(j >> 8), byte(j)}
		out[i] = benchPeer{
			fdb:   dataplane.FDBEntry{LinkIndex: index, MAC: mac, Dst: netip.AddrFrom4([4]byte{198, 19, byte(j / 256), byte(j % 256)})},
			neigh: dataplane.Neigh{LinkIndex: index, IP: sn.Addr(), MAC: mac},
			route: dataplane.Route{LinkIndex: index, Dst: sn, Gw: sn.Addr(), OnLink: true, Protocol: vxlan.RouteProtocol},
		}
	}
	return out
}

// libPath programs entries with the netlink library's Handle, converting
// each from dataplane values as a library-backed netlinkdp would.
type libPath struct{ h *netlink.Handle }

func (p libPath) set(e *benchPeer) error {
	if err := p.h.NeighSet(&netlink.Neigh{LinkIndex: e.fdb.LinkIndex, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
		State: netlink.NUD_PERMANENT, IP: net.IP(e.fdb.Dst.AsSlice()), HardwareAddr: e.fdb.MAC.HardwareAddr()}); err != nil {
		return err
	}
	if err := p.h.NeighSet(&netlink.Neigh{LinkIndex: e.neigh.LinkIndex, Family: unix.AF_INET, Type: unix.RTN_UNICAST,
		State: netlink.NUD_PERMANENT, IP: net.IP(e.neigh.IP.AsSlice()), HardwareAddr: e.neigh.MAC.HardwareAddr()}); err != nil {
		return err
	}
	r := e.route
	return p.h.RouteReplace(&netlink.Route{LinkIndex: r.LinkIndex, Gw: net.IP(r.Gw.AsSlice()), Flags: int(netlink.FLAG_ONLINK),
		Protocol: netlink.RouteProtocol(r.Protocol), Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST,
		Dst: &net.IPNet{IP: net.IP(r.Dst.Addr().AsSlice()), Mask: net.CIDRMask(r.Dst.Bits(), 32)}})
}

// rawPath programs entries through the Dataplane, i.e. its own request
// socket.
type rawPath struct{ dp *netlinkdp.Dataplane }

func (p rawPath) set(e *benchPeer) error {
	if err := p.dp.SetFDB(e.fdb); err != nil {
		return err
	}
	if err := p.dp.SetNeigh(e.neigh); err != nil {
		return err
	}
	return p.dp.ReplaceRoute(e.route)
}

// BenchmarkRequestPath is the A/B of netlinkdp's raw request path against
// the netlink library's Handle.NeighSet and RouteReplace: 5,000 peers
// (15,000 entries: FDB, neighbour, route) written onto an empty VXLAN
// device in a namespace of their own, one request per entry in both. The
// device is recreated, untimed, before each op.
func BenchmarkRequestPath(b *testing.B) {
	for _, path := range []string{"raw", "netlink-handle"} {
		b.Run(path, func(b *testing.B) {
			h, ns := newHarnessNS(b)
			dp := h.DP.(*netlinkdp.Dataplane)
			lib, err := netlink.NewHandleAt(ns.Handle, unix.NETLINK_ROUTE)
			if err != nil {
				b.Fatal(err)
			}
			defer lib.Close()
			set := rawPath{dp}.set
			if path != "raw" {
				set = libPath{lib}.set
			}
			spec := dataplane.VXLANSpec{Name: "flannel.1", MTU: 1450, VXLANAttrs: dataplane.VXLANAttrs{
				VNI: 1, Port: 8472, Local: dataplanetest.UnderlayAddr.Addr(), UnderlayIndex: h.Underlay.Index}}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				if err := dp.DelLink(spec.Name); err != nil {
					b.Fatal(err)
				}
				l, err := dp.CreateVXLAN(spec)
				if err != nil {
					b.Fatal(err)
				}
				peers := benchPeerSet(benchPeers, l.Index)
				b.StartTimer()
				for i := range peers {
					if err := set(&peers[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			checkTables(b, ns, benchPeers)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*3*benchPeers), "ns/entry")
		})
	}
}
