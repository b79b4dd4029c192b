// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp

import (
	"cmp"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sirupsen/logrus/hooks/test"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/internal/nstest"
)

// rawDumpEntries is how many entries of each kind TestRawDumpMatchesLibrary
// programs: enough for every dump to span many datagrams.
const rawDumpEntries = 3000

// TestRawDumpMatchesLibrary fills a namespace's tables with what weft and
// its neighbours put there (VXLAN neighbours, FDB entries and onlink
// routes with per-peer metrics, IPv6 routes and neighbours, a default
// route, a multipath route, another table's route, blackholes, stale and
// non-permanent entries), then reads them through weft's own dumps and
// through the netlink library's, and wants the same entries: the library's
// decoding (which weft used before) is the reference for weft's in-place
// one.
func TestRawDumpMatchesLibrary(t *testing.T) {
	n := nstest.New(t)
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("link add eth0 type veth peer name eth0p")
	w("addr add 198.18.0.1/24 dev eth0")
	w("addr add 2001:db8:18::1/64 dev eth0 nodad")
	w("link set eth0p up")
	w("link set eth0 up")
	w("link add flannel.1 type vxlan id 1 local 198.18.0.1 dev eth0 dstport 8472 nolearning")
	w("link set flannel.1 up")
	w("route add default via 198.18.0.254 dev eth0 metric 100")
	w("route add 10.250.0.0/24 nexthop via 198.18.0.2 dev eth0 nexthop via 198.18.0.3 dev eth0")
	w("route add 10.251.0.0/24 via 198.18.0.2 dev eth0 table 100")
	w("route add blackhole 10.252.0.0/24 proto 87 metric 5")
	w("route add blackhole 10.253.0.0/16")
	w("route add 10.254.0.0/24 via 198.18.0.2 dev eth0 src 198.18.0.1 proto static")
	w("route add 10.255.0.7 dev eth0 scope link")
	w("addr add 198.18.5.1 peer 198.18.5.2 dev eth0")
	w("addr add 2001:db8:19::1/64 dev eth0p nodad")
	w("route add ::/0 via 2001:db8:18::fe dev eth0 metric 1024")
	w("route add blackhole 2001:db8:ff::/48 proto 87")
	w("neigh add 198.18.0.77 lladdr 02:00:00:00:77:77 dev eth0 nud stale")
	w("neigh add 198.18.0.78 lladdr 02:00:00:00:77:78 dev eth0 nud permanent")
	var fdb strings.Builder
	for i := range rawDumpEntries {
		sub := netip.AddrFrom4([4]byte{10, 244, byte(i >> 8), byte(i)})
		mac := fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16, byte(i>>8), byte(i))
		w("neigh replace %s lladdr %s dev flannel.1 nud permanent", sub, mac)
		if i < rawDumpEntries/3 {
			w("addr add 198.20.%d.%d/%d dev eth0p", byte(i>>8), byte(i), 16+i%17)
		}
		w("route replace %s/32 via %s dev flannel.1 onlink proto 87 metric %d", sub, sub, 1000+i)
		w("neigh replace 2001:db8:44::%x lladdr %s dev eth0 nud permanent", i+1, mac)
		w("route replace 2001:db8:%x::/64 via 2001:db8:18::%x dev eth0 proto 87 metric %d", 0x1000+i, i+2, 1000+i)
		fmt.Fprintf(&fdb, "fdb append %s dev flannel.1 dst 198.19.%d.%d self permanent\n", mac, byte(i>>8), byte(i))
	}
	dir := t.TempDir()
	for _, f := range []struct{ name, tool, text string }{{"ip.batch", "ip", b.String()}, {"bridge.batch", "bridge", fdb.String()}} {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, []byte(f.text), 0o644); err != nil {
			t.Fatal(err)
		}
		n.MustRun(t, f.tool, "-batch", p)
	}

	log, _ := test.NewNullLogger()
	dp, err := New(n.Handle, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp.Close() })
	lib, err := netlink.NewHandleAt(n.Handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lib.Close)
	eth0, err := lib.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	vx, err := lib.LinkByName("flannel.1")
	if err != nil {
		t.Fatal(err)
	}

	for _, fam := range []dataplane.Family{dataplane.IPv4, dataplane.IPv6} {
		all, err := lib.RouteListFiltered(familyOf(fam), &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		var want []dataplane.Route
		var wantBH []Blackhole
		for i := range all {
			r := &all[i]
			switch {
			case r.Type == unix.RTN_UNICAST && len(r.MultiPath) == 0:
				want = append(want, routeOf(r))
			case r.Type == unix.RTN_BLACKHOLE:
				wantBH = append(wantBH, Blackhole{Dst: prefixOf(r.Dst), Protocol: uint8(r.Protocol), Metric: uint32(r.Priority)})
			}
		}
		got, err := dp.Routes(fam)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) < rawDumpEntries {
			t.Errorf("%s: %d routes dumped, want at least %d", fam, len(got), rawDumpEntries)
		}
		sameSet(t, fam.String()+" routes", got, want, func(a, b dataplane.Route) int {
			return cmp.Or(a.Dst.Addr().Compare(b.Dst.Addr()), a.Dst.Bits()-b.Dst.Bits(), cmp.Compare(a.Metric, b.Metric))
		})
		bh, err := dp.Blackholes(fam)
		if err != nil {
			t.Fatal(err)
		}
		if len(bh) == 0 {
			t.Errorf("%s: no blackhole routes dumped", fam)
		}
		sameSet(t, fam.String()+" blackholes", bh, wantBH, func(a, b Blackhole) int { return a.Dst.Addr().Compare(b.Dst.Addr()) })
		if link, err := dp.DefaultRouteLink(fam); err != nil || link != eth0.Attrs().Index {
			t.Errorf("%s DefaultRouteLink = %d, %v; want %d", fam, link, err, eth0.Attrs().Index)
		}
	}

	for _, link := range []netlink.Link{eth0, vx} {
		idx := link.Attrs().Index
		var want []dataplane.Neigh
		for _, f := range []int{unix.AF_INET, unix.AF_INET6} {
			ns, err := lib.NeighList(idx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ns {
				if e.State&netlink.NUD_PERMANENT != 0 {
					want = append(want, dataplane.Neigh{LinkIndex: e.LinkIndex, IP: addrOf(e.IP), MAC: macOf(e.HardwareAddr)})
				}
			}
		}
		got, err := dp.Neighs(idx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) < rawDumpEntries {
			t.Errorf("%s: %d neighbours dumped, want at least %d", link.Attrs().Name, len(got), rawDumpEntries)
		}
		sameSet(t, link.Attrs().Name+" neighbours", got, want, func(a, b dataplane.Neigh) int { return a.IP.Compare(b.IP) })
	}

	for _, l := range []netlink.Link{nil, eth0, vx} {
		for _, f := range []int{netlink.FAMILY_ALL, netlink.FAMILY_V4, netlink.FAMILY_V6} {
			want, err := lib.AddrList(l, f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := dp.dumpSock.AddrList(l, f)
			if err != nil {
				t.Fatal(err)
			}
			what := fmt.Sprintf("addresses of %v, family %d", l, f)
			if l == nil && f == netlink.FAMILY_ALL && len(got) < rawDumpEntries/3 {
				t.Errorf("%s: %d dumped, want at least %d", what, len(got), rawDumpEntries/3)
			}
			// Of the library's fields, weft reads (and fills in) the link
			// and the address.
			for i := range want {
				want[i] = netlink.Addr{LinkIndex: want[i].LinkIndex, IPNet: want[i].IPNet}
			}
			sameSet(t, what, got, want, func(a, b netlink.Addr) int {
				return cmp.Or(cmp.Compare(a.LinkIndex, b.LinkIndex), strings.Compare(a.IPNet.String(), b.IPNet.String()))
			})
		}
	}

	fdb0, err := lib.NeighList(vx.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		t.Fatal(err)
	}
	var wantFDB []dataplane.FDBEntry
	for _, e := range fdb0 {
		if e.IP != nil && e.LinkIndex == vx.Attrs().Index {
			wantFDB = append(wantFDB, dataplane.FDBEntry{LinkIndex: e.LinkIndex, MAC: macOf(e.HardwareAddr), Dst: addrOf(e.IP)})
		}
	}
	gotFDB, err := dp.FDB(vx.Attrs().Index)
	if err != nil {
		t.Fatal(err)
	}
	if len(gotFDB) != rawDumpEntries {
		t.Errorf("%d FDB entries dumped, want %d", len(gotFDB), rawDumpEntries)
	}
	sameSet(t, "fdb", gotFDB, wantFDB, func(a, b dataplane.FDBEntry) int { return a.Dst.Compare(b.Dst) })
}

// sameSet compares two lists as sets, reporting the differences.
func sameSet[T any](t *testing.T, what string, got, want []T, order func(a, b T) int) {
	t.Helper()
	if d := gocmp.Diff(want, got, cmpopts.SortSlices(func(a, b T) bool { return order(a, b) < 0 }),
		gocmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		gocmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("%s: weft's dump differs from the library's (-library +weft):\n%s", what, d)
	}
}

// TestDumpSizesBounded: the sizes remembered are bounded (a device
// re-created gets a new index, its tables new keys), and entries changed
// in a table never dumped are not counted.
func TestDumpSizesBounded(t *testing.T) {
	var s dumpSizes
	s.grow(dumpTable{kind: 'n', link: 1}, 5)
	if n := s.hint(dumpTable{kind: 'n', link: 1}); n != 0 {
		t.Errorf("hint for a table never dumped = %d, want 0", n)
	}
	for i := range 10 * maxDumpTables {
		s.keep(dumpTable{kind: 'n', link: i}, 100)
		s.grow(dumpTable{kind: 'n', link: i}, 16)
		if len(s.n) > maxDumpTables {
			t.Fatalf("%d tables remembered after %d, want at most %d", len(s.n), i+1, maxDumpTables)
		}
		if n := s.hint(dumpTable{kind: 'n', link: i}); n != 116+116/16 {
			t.Fatalf("hint = %d, want %d", n, 116+116/16)
		}
	}
}
