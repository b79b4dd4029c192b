// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/weft-net/weft/backend/dataplane"
)

// tables is a dumper over fixed tables, for the unit tests of the retry
// (the kernel interrupts dumps only by chance; TestDumpUnderChurn and the
// interrupted conformance run cover the kernel). calls counts the dumps.
type tables struct {
	links  []netlink.Link
	addrs  []netlink.Addr
	neighs []neighMsg
	routes []routeMsg
	calls  int
}

func (t *tables) LinkList() ([]netlink.Link, error) {
	t.calls++
	return append([]netlink.Link(nil), t.links...), nil
}

func (t *tables) LinkByName(name string) (netlink.Link, error) {
	t.calls++
	for _, l := range t.links {
		if l.Attrs().Name == name {
			return l, nil
		}
	}
	return nil, netlink.LinkNotFoundError{}
}

func (t *tables) AddrList(link netlink.Link, _ int) ([]netlink.Addr, error) {
	t.calls++
	var out []netlink.Addr
	for _, a := range t.addrs {
		if link == nil || a.LinkIndex == link.Attrs().Index {
			out = append(out, a)
		}
	}
	return out, nil
}

func (t *tables) NeighIter(index, family int, f func(*neighMsg) bool) error {
	t.calls++
	for i := range t.neighs {
		if n := t.neighs[i]; n.index == index && int(n.family) == family && !f(&n) {
			break
		}
	}
	return nil
}

func (t *tables) RouteIter(family int, f func(*routeMsg) bool) error {
	t.calls++
	for i := range t.routes {
		if r := t.routes[i]; r.route.Dst.Addr().Is4() == (family == unix.AF_INET) && !f(&r) {
			break
		}
	}
	return nil
}

func cidr(s string) *net.IPNet { return ipNetOf(netip.MustParsePrefix(s)) }

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func mac(last byte) [6]byte { return [6]byte{2, 0, 0, 0, 1, last} }

func mainRoute(r dataplane.Route) routeMsg {
	return routeMsg{table: unix.RT_TABLE_MAIN, typ: unix.RTN_UNICAST, route: r}
}

func newTables() *tables {
	return &tables{
		links: []netlink.Link{
			&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo", Flags: net.FlagUp | net.FlagLoopback}},
			&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Index: 2, Name: "eth0", MTU: 1500, Flags: net.FlagUp}},
			&netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Index: 5, Name: "flannel.1", MTU: 1450}, VxlanId: 1, Port: 8472},
		},
		addrs: []netlink.Addr{
			{LinkIndex: 2, IPNet: cidr("198.18.0.1/24")},
			{LinkIndex: 5, IPNet: cidr("10.244.1.0/32")},
		},
		neighs: []neighMsg{
			{index: 5, family: unix.AF_INET, state: unix.NUD_PERMANENT, ip: ip("10.244.2.0"), mac: mac(2)},
			{index: 5, family: unix.AF_INET, state: unix.NUD_PERMANENT, ip: ip("10.244.3.0"), mac: mac(3)},
			{index: 5, family: unix.AF_BRIDGE, state: unix.NUD_PERMANENT, ip: ip("198.19.0.2"), mac: mac(2)},
			{index: 5, family: unix.AF_BRIDGE, state: unix.NUD_PERMANENT, ip: ip("198.19.0.3"), mac: mac(3)},
		},
		routes: []routeMsg{
			mainRoute(dataplane.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), LinkIndex: 2, Metric: 100, Gw: ip("198.18.0.254")}),
			mainRoute(dataplane.Route{LinkIndex: 5, Dst: netip.MustParsePrefix("10.244.2.0/24"), Gw: ip("10.244.2.0"), OnLink: true}),
			mainRoute(dataplane.Route{LinkIndex: 5, Dst: netip.MustParsePrefix("10.244.3.0/24"), Gw: ip("10.244.3.0"), OnLink: true}),
		},
	}
}

// reads calls every reading method of a Dataplane, returning the results.
var reads = map[string]func(d *Dataplane) (any, error){
	"Links":            func(d *Dataplane) (any, error) { return d.Links() },
	"LinkByName":       func(d *Dataplane) (any, error) { return d.LinkByName("flannel.1") },
	"Addrs":            func(d *Dataplane) (any, error) { return d.Addrs(2) },
	"Neighs":           func(d *Dataplane) (any, error) { return d.Neighs(5) },
	"FDB":              func(d *Dataplane) (any, error) { return d.FDB(5) },
	"Routes":           func(d *Dataplane) (any, error) { return d.Routes(dataplane.IPv4) },
	"DefaultRouteLink": func(d *Dataplane) (any, error) { return d.DefaultRouteLink(dataplane.IPv4) },
}

// TestDumpRetry: every reading method returns exactly the uninterrupted
// result when each of its dumps is interrupted up to maxDumpAttempts-1
// times (nothing of the partial, stale attempts leaks into it), and fails
// with an error naming the dump and wrapping ErrDumpInterrupted, with no
// result, when a dump is interrupted maxDumpAttempts times.
func TestDumpRetry(t *testing.T) {
	for name, read := range reads {
		t.Run(name, func(t *testing.T) {
			want, err := read(&Dataplane{dump: newTables()})
			if err != nil {
				t.Fatal(err)
			}
			tb := newTables()
			d := &Dataplane{dump: tb}
			set := InterruptDumps(d)
			set(maxDumpAttempts - 1)
			got, err := read(d)
			if err != nil {
				t.Fatalf("%d interruptions per dump: %v", maxDumpAttempts-1, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("after interruptions got %+v, want %+v", got, want)
			}
			dumps := tb.calls / maxDumpAttempts
			if tb.calls%maxDumpAttempts != 0 || dumps == 0 {
				t.Fatalf("%d dump calls, want a multiple of %d", tb.calls, maxDumpAttempts)
			}
			if n := d.DumpInterruptions(); n != uint64(dumps*(maxDumpAttempts-1)) {
				t.Errorf("DumpInterruptions = %d, want %d", n, dumps*(maxDumpAttempts-1))
			}

			tb.calls = 0
			set(maxDumpAttempts)
			got, err = read(d)
			if !errors.Is(err, netlink.ErrDumpInterrupted) {
				t.Fatalf("%d interruptions: got %+v, %v; want ErrDumpInterrupted", maxDumpAttempts, got, err)
			}
			if !strings.Contains(err.Error(), "dump ") || !strings.Contains(err.Error(), fmt.Sprintf("%d attempts", maxDumpAttempts)) {
				t.Errorf("error %q does not name the dump and the attempts", err)
			}
			if tb.calls != maxDumpAttempts {
				t.Errorf("%d dump calls, want %d (the first dump fails)", tb.calls, maxDumpAttempts)
			}
			if v := reflect.ValueOf(got); !v.IsZero() {
				t.Errorf("failed read returned %+v, want the zero value", got)
			}
		})
	}
}

// TestDumpOtherErrorNotRetried: an error other than an interruption ends
// the dump at once.
func TestDumpOtherErrorNotRetried(t *testing.T) {
	d := &Dataplane{}
	calls := 0
	_, err := retryDump(d, "test", func() (int, error) { calls++; return 0, unix.EPERM })
	if !errors.Is(err, unix.EPERM) || calls != 1 || d.DumpInterruptions() != 0 {
		t.Fatalf("err %v after %d calls, %d interruptions; want EPERM after 1, 0", err, calls, d.DumpInterruptions())
	}
}

// TestDumpErrorNamesTable: the final error says which table could not be
// read.
func TestDumpErrorNamesTable(t *testing.T) {
	d := &Dataplane{dump: newTables()}
	InterruptDumps(d)(maxDumpAttempts)
	for _, c := range []struct {
		read func() error
		want string
	}{
		{func() error { _, err := d.Neighs(5); return err }, "list neighbours of link 5: dump ipv4 neighbours: changed during each of " + fmt.Sprint(maxDumpAttempts) + " attempts"},
		{func() error { _, err := d.FDB(5); return err }, "list fdb of link 5: dump fdb: changed"},
		{func() error { _, err := d.Routes(dataplane.IPv6); return err }, "list ipv6 routes: dump ipv6 routes: changed"},
		{func() error { _, err := d.Links(); return err }, "list links: dump links: changed"},
	} {
		if err := c.read(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want it to contain %q", err, c.want)
		}
	}
}
