// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package routecost

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weft-net/weft/internal/nstest"
)

// The cluster the benchmarks stand for: Network 10.0.0.0/8 with SubnetLen
// 24 (65,536 subnets, the largest a /8 gives at flannel's default length)
// and IPv6Network fd00:10::/48 with IPv6SubnetLen 64. Peer i (from 1) holds
// the i-th subnet of each, so its index inside Network is i.
var (
	network4 = netip.MustParsePrefix("10.0.0.0/8")
	network6 = netip.MustParsePrefix("fd00:10::/48")
)

const (
	subnetLen4 = 24
	subnetLen6 = 64
	dev4       = "flannel.1"
	dev6       = "flannel-v6.1"
	proto      = 87 // weft's route protocol (backend/vxlan.RouteProtocol)
)

func subnet4(i int) netip.Prefix {
	a := network4.Addr().As4()
	v := binary.BigEndian.Uint32(a[:]) + uint32(i)<<(32-subnetLen4)
	binary.BigEndian.PutUint32(a[:], v)
	return netip.PrefixFrom(netip.AddrFrom4(a), subnetLen4)
}

func subnet6(i int) netip.Prefix {
	a := network6.Addr().As16()
	// Bits 48–63: the subnet's index inside a /48 at length 64.
	binary.BigEndian.PutUint16(a[6:8], uint16(i))
	return netip.PrefixFrom(netip.AddrFrom16(a), subnetLen6)
}

// index4 is a subnet's index inside Network: (subnet − network) >> (32 −
// SubnetLen), the per-peer metric the design proposes (plus a base).
func index4(sn netip.Prefix) uint32 {
	s, n := sn.Addr().As4(), network4.Addr().As4()
	return (binary.BigEndian.Uint32(s[:]) - binary.BigEndian.Uint32(n[:])) >> (32 - subnetLen4)
}

// index6 is the same for IPv6: the 16 bits between /48 and /64 here.
func index6(sn netip.Prefix) uint32 {
	a := sn.Addr().As16()
	return uint32(binary.BigEndian.Uint16(a[6:8]))
}

// addr4 is the other metric candidate: the subnet's address as a u32,
// which needs no Network at all.
func addr4(sn netip.Prefix) uint32 {
	a := sn.Addr().As4()
	return binary.BigEndian.Uint32(a[:])
}

// form is one way of writing a peer's route: the iproute2 batch lines that
// program peer i, and those that remove it.
type form struct {
	name     string
	add, del func(i int) []string
}

var (
	// v4Today is what weftd (and, with proto boot, flanneld) writes: every
	// route has metric 0, protocol 87, scope universe, no prefsrc and the
	// same device, so the kernel files every one under one fib_info hash
	// bucket.
	v4Today = form{"v4-today",
		func(i int) []string {
			sn := subnet4(i)
			return []string{fmt.Sprintf("route replace %s via %s dev %s onlink proto %d", sn, sn.Addr(), dev4, proto)}
		},
		func(i int) []string {
			return []string{fmt.Sprintf("route del %s dev %s proto %d", subnet4(i), dev4, proto)}
		}}
	// v4MetricIndex: the same route with metric = the subnet's index
	// inside Network.
	v4MetricIndex = v4Metric("v4-metric-index", index4)
	// v4MetricAddr: metric = the subnet's address.
	v4MetricAddr = v4Metric("v4-metric-addr", addr4)
	// v4Nhid: a nexthop object per peer (id = subnet index), the route
	// pointing at it.
	v4Nhid = form{"v4-nhid",
		func(i int) []string {
			sn := subnet4(i)
			id := index4(sn)
			return []string{
				fmt.Sprintf("nexthop add id %d via %s dev %s onlink proto %d", id, sn.Addr(), dev4, proto),
				fmt.Sprintf("route replace %s nhid %d proto %d", sn, id, proto),
			}
		},
		func(i int) []string {
			sn := subnet4(i)
			id := index4(sn)
			return []string{
				fmt.Sprintf("route del %s nhid %d proto %d", sn, id, proto),
				fmt.Sprintf("nexthop del id %d", id),
			}
		}}
	// v6Today is weft's IPv6 route today; the kernel gives it metric 1024.
	v6Today = form{"v6-today",
		func(i int) []string {
			sn := subnet6(i)
			return []string{fmt.Sprintf("route replace %s via %s dev %s onlink proto %d", sn, sn.Addr(), dev6, proto)}
		},
		func(i int) []string {
			return []string{fmt.Sprintf("route del %s dev %s proto %d", subnet6(i), dev6, proto)}
		}}
	v6MetricIndex = form{"v6-metric-index",
		func(i int) []string {
			sn := subnet6(i)
			return []string{fmt.Sprintf("route replace %s via %s dev %s onlink proto %d metric %d",
				sn, sn.Addr(), dev6, proto, index6(sn))}
		},
		func(i int) []string {
			sn := subnet6(i)
			return []string{fmt.Sprintf("route del %s dev %s proto %d metric %d", sn, dev6, proto, index6(sn))}
		}}
)

func v4Metric(name string, metric func(netip.Prefix) uint32) form {
	return form{name,
		func(i int) []string {
			sn := subnet4(i)
			return []string{fmt.Sprintf("route replace %s via %s dev %s onlink proto %d metric %d",
				sn, sn.Addr(), dev4, proto, metric(sn))}
		},
		func(i int) []string {
			sn := subnet4(i)
			return []string{fmt.Sprintf("route del %s dev %s proto %d metric %d", sn, dev4, proto, metric(sn))}
		}}
}

// BenchmarkRouteInsert measures the kernel's cost of a cold start's
// routes: N peer routes written by `ip -batch` onto freshly created
// devices, one namespace per form and N. Only the routes are written (no
// neighbour or FDB entries, which cost the same in every form), and only
// the batch is timed.
func BenchmarkRouteInsert(b *testing.B) {
	for _, f := range []form{v4Today, v4MetricIndex, v4MetricAddr, v4Nhid, v6Today, v6MetricIndex} {
		for _, n := range []int{5000, 10000, 20000} {
			b.Run(fmt.Sprintf("form=%s/routes=%d", f.name, n), func(b *testing.B) {
				ns := newNode(b)
				file := batchFile(b, "insert", peers(1, n, f.add))
				for b.Loop() {
					b.StopTimer()
					resetDevices(b, ns)
					b.StartTimer()
					runBatch(b, ns, file)
				}
				ms := float64(b.Elapsed().Nanoseconds()) / 1e6 / float64(b.N)
				b.ReportMetric(ms, "ms")
				b.ReportMetric(ms*1e3/float64(n), "us/route")
			})
		}
	}
}

// BenchmarkRouteChange measures one peer's join and leave next to N
// existing routes: peer N+1's route added then deleted, 1,000 times in one
// batch (so iproute2's start-up, about 2 ms, adds about 1 µs per change).
func BenchmarkRouteChange(b *testing.B) {
	const cycles = 1000
	for _, f := range []form{v4Today, v4MetricIndex, v4Nhid, v6Today} {
		for _, n := range []int{500, 5000, 10000, 20000} {
			b.Run(fmt.Sprintf("form=%s/routes=%d", f.name, n), func(b *testing.B) {
				ns := newNode(b)
				resetDevices(b, ns)
				runBatch(b, ns, batchFile(b, "fill", peers(1, n, f.add)))
				var lines []string
				for range cycles {
					lines = append(lines, f.add(n+1)...)
					lines = append(lines, f.del(n+1)...)
				}
				file := batchFile(b, "change", lines)
				for b.Loop() {
					runBatch(b, ns, file)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*cycles*b.N), "ns/change")
			})
		}
	}
}

// peers returns the lines programming peers from..to.
func peers(from, to int, add func(int) []string) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, add(i)...)
	}
	return out
}

func batchFile(b testing.TB, name string, lines []string) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), name+".batch")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	return p
}

// newNode is a namespace with an underlay (a veth pair eth0/eth0p, with
// the node's addresses of both families). Its devices are deleted before
// the namespace: the kernel then frees the routes synchronously, instead
// of in the background while the next benchmark runs.
func newNode(b testing.TB) *nstest.NS {
	b.Helper()
	ns := nstest.New(b)
	for _, c := range [][]string{
		{"link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"},
		{"addr", "add", "198.18.0.1/24", "dev", "eth0"},
		{"-6", "addr", "add", "2001:db8:18::1/64", "dev", "eth0", "nodad"},
		{"link", "set", "eth0", "up"},
		{"link", "set", "eth0p", "up"},
	} {
		ns.MustRun(b, append([]string{"ip"}, c...)...)
	}
	b.Cleanup(func() {
		for _, d := range []string{dev4, dev6} {
			_, _ = ns.Run("ip", "link", "del", d)
		}
	})
	return ns
}

// resetDevices deletes the VXLAN devices (and with them every route and
// nexthop on them) and creates them again, as weftd would find them.
func resetDevices(b testing.TB, ns *nstest.NS) {
	b.Helper()
	for _, d := range []string{dev4, dev6} {
		_, _ = ns.Run("ip", "link", "del", d)
	}
	ns.MustRun(b, "ip", "link", "add", dev4, "type", "vxlan", "id", "1", "local", "198.18.0.1",
		"dev", "eth0", "dstport", "8472", "nolearning")
	ns.MustRun(b, "ip", "link", "add", dev6, "type", "vxlan", "id", "1", "local", "2001:db8:18::1",
		"dev", "eth0", "dstport", "8472", "nolearning")
	ns.MustRun(b, "ip", "link", "set", dev4, "up")
	ns.MustRun(b, "ip", "link", "set", dev6, "up")
}

func runBatch(b testing.TB, ns *nstest.NS, file string) {
	b.Helper()
	if out, err := exec.Command("ip", "-n", ns.Name, "-batch", file).CombinedOutput(); err != nil {
		b.Fatalf("ip -n %s -batch %s: %v: %s", ns.Name, file, err, out)
	}
}

// TestForms checks that every form programs what it means to, and that
// its removal lines remove exactly that peer, so the benchmarks time the
// intended work.
func TestForms(t *testing.T) {
	nstest.RequireRoot(t)
	for _, f := range []form{v4Today, v4MetricIndex, v4MetricAddr, v4Nhid, v6Today, v6MetricIndex} {
		t.Run(f.name, func(t *testing.T) {
			ns := newNode(t)
			resetDevices(t, ns)
			runBatch(t, ns, batchFile(t, "add", peers(1, 3, f.add)))
			runBatch(t, ns, batchFile(t, "del", f.del(2)))
			fam, dev, sn := "-4", dev4, subnet4
			if strings.HasPrefix(f.name, "v6") {
				fam, dev, sn = "-6", dev6, subnet6
			}
			got := ns.MustRun(t, "ip", fam, "route", "show", "proto", fmt.Sprint(proto))
			for i := 1; i <= 3; i++ {
				line := fmt.Sprintf("%s via %s dev %s", sn(i), sn(i).Addr(), dev)
				if f.name == v4Nhid.name {
					line = fmt.Sprintf("%s nhid %d via %s dev %s", sn(i), i, sn(i).Addr(), dev)
				}
				if has := strings.Contains(got, line+" "); has != (i != 2) {
					t.Errorf("route of peer %d present: %v, want %v; routes:\n%s", i, has, i != 2, got)
				}
			}
			lines := strings.Split(strings.TrimSpace(got), "\n")
			if len(lines) != 2 {
				t.Errorf("%d routes with proto %d, want 2:\n%s", len(lines), proto, got)
			}
			for _, l := range lines {
				switch m := strings.Contains(l, " metric "); {
				case strings.Contains(f.name, "metric"):
					if !m {
						t.Errorf("route without its own metric: %s", l)
					}
				case f.name == v6Today.name:
					if !strings.Contains(l, " metric 1024 ") {
						t.Errorf("IPv6 route without the kernel's default metric 1024: %s", l)
					}
				case m:
					t.Errorf("IPv4 route with a metric: %s", l)
				}
			}
		})
	}
}
