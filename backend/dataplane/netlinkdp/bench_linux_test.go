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
	"github.com/weft-net/weft/internal/nstest"
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

// vxlanSpec is the VXLAN device the benchmarks program, on h's underlay.
func vxlanSpec(h dataplanetest.Harness) dataplane.VXLANSpec {
	return dataplane.VXLANSpec{Name: "flannel.1", MTU: 1450, VXLANAttrs: dataplane.VXLANAttrs{
		VNI: 1, Port: 8472, Local: dataplanetest.UnderlayAddr.Addr(), UnderlayIndex: h.Underlay.Index}}
}

// benchHarness is a harness namespace with its Dataplane and a netlink
// library handle in the same namespace, for the A/B benchmarks.
func benchHarness(b *testing.B) (dataplanetest.Harness, *nstest.NS, *netlinkdp.Dataplane, *netlink.Handle) {
	h, ns := newHarnessNS(b)
	lib, err := netlink.NewHandleAt(ns.Handle, unix.NETLINK_ROUTE)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(lib.Close)
	return h, ns, h.DP.(*netlinkdp.Dataplane), lib
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
			h, ns, dp, lib := benchHarness(b)
			set := rawPath{dp}.set
			if path != "raw" {
				set = libPath{lib}.set
			}
			spec := vxlanSpec(h)
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

// dumpPeers is the peers BenchmarkTableDump reads back.
const dumpPeers = 10000

// BenchmarkTableDump is the A/B of a full reconcile's reads at 10,000
// peers: the VXLAN device's neighbour (IPv4 and IPv6) and FDB entries and
// the main table's IPv4 routes (30,000 entries), through netlinkdp's own
// dumps ("weft") and through the netlink library's NeighList and
// RouteListFiltered converted to the same dataplane values ("library",
// what netlinkdp did before). The tables are programmed once, untimed.
func BenchmarkTableDump(b *testing.B) {
	for _, path := range []string{"weft", "library"} {
		b.Run(path, func(b *testing.B) {
			h, _, dp, lib := benchHarness(b)
			l, err := dp.CreateVXLAN(vxlanSpec(h))
			if err != nil {
				b.Fatal(err)
			}
			peers := benchPeerSet(dumpPeers, l.Index)
			for i := range peers {
				if err := (rawPath{dp}).set(&peers[i]); err != nil {
					b.Fatal(err)
				}
			}
			read := func() (int, error) {
				ns, err := dp.Neighs(l.Index)
				if err != nil {
					return 0, err
				}
				fdb, err := dp.FDB(l.Index)
				if err != nil {
					return 0, err
				}
				rs, err := dp.Routes(dataplane.IPv4)
				return len(ns) + len(fdb) + len(rs), err
			}
			if path == "library" {
				read = func() (int, error) { return libDump(lib, l.Index) }
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if n, err = read(); err != nil {
					b.Fatal(err)
				}
			}
			if n < 3*dumpPeers {
				b.Fatalf("read %d entries, want at least %d", n, 3*dumpPeers)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
		})
	}
}

// libDump reads what BenchmarkTableDump reads through the netlink library,
// keeping the same entries as netlinkdp in the same dataplane values.
func libDump(lib *netlink.Handle, index int) (int, error) {
	var neighs []dataplane.Neigh
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		ns, err := lib.NeighList(index, fam)
		if err != nil {
			return 0, err
		}
		for _, n := range ns {
			if n.State&netlink.NUD_PERMANENT != 0 {
				ip, _ := netip.AddrFromSlice(n.IP)
				neighs = append(neighs, dataplane.Neigh{LinkIndex: n.LinkIndex, IP: ip.Unmap(), MAC: [6]byte(n.HardwareAddr)})
			}
		}
	}
	fdb, err := lib.NeighList(index, unix.AF_BRIDGE)
	if err != nil {
		return 0, err
	}
	var fdbOut []dataplane.FDBEntry
	for _, n := range fdb {
		if n.IP != nil && n.LinkIndex == index {
			ip, _ := netip.AddrFromSlice(n.IP)
			fdbOut = append(fdbOut, dataplane.FDBEntry{LinkIndex: index, MAC: [6]byte(n.HardwareAddr), Dst: ip.Unmap()})
		}
	}
	rs, err := lib.RouteListFiltered(unix.AF_INET, &netlink.Route{Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_TYPE)
	if err != nil {
		return 0, err
	}
	var routes []dataplane.Route
	for _, r := range rs {
		if len(r.MultiPath) == 0 && r.Dst != nil {
			a, _ := netip.AddrFromSlice(r.Dst.IP)
			ones, _ := r.Dst.Mask.Size()
			gw, _ := netip.AddrFromSlice(r.Gw)
			routes = append(routes, dataplane.Route{Dst: netip.PrefixFrom(a.Unmap(), ones), Gw: gw.Unmap(), LinkIndex: r.LinkIndex,
				OnLink: r.Flags&int(netlink.FLAG_ONLINK) != 0, Protocol: uint8(r.Protocol), Metric: uint32(r.Priority)})
		}
	}
	return len(neighs) + len(fdbOut) + len(routes), nil
}
