// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package dataplanetest

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

// Harness is one fresh dataplane for a conformance subtest.
type Harness struct {
	DP dataplane.Dataplane
	// Underlay is an up link carrying UnderlayAddr and UnderlayAddr6.
	Underlay dataplane.Link
}

// Addresses every harness puts on its underlay.
var (
	UnderlayAddr  = netip.MustParsePrefix("198.18.0.1/24")
	UnderlayAddr6 = netip.MustParsePrefix("2001:db8:18::1/64")
)

// WeftProto is the route protocol the suite uses for its routes.
const WeftProto uint8 = 0x57

var (
	macA = subnet.MAC{0x02, 0xaa, 0, 0, 0, 1}
	macB = subnet.MAC{0x02, 0xbb, 0, 0, 0, 2}
	cmpN = cmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, subnet.MAC{}),
		cmpopts.SortSlices(func(a, b dataplane.Neigh) bool { return a.IP.Less(b.IP) }),
		cmpopts.SortSlices(func(a, b dataplane.FDBEntry) bool { return a.Dst.Less(b.Dst) })}
)

// RunConformance checks a Dataplane implementation against the behaviour
// weft relies on. newHarness is called once per subtest.
func RunConformance(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		f    func(t *testing.T, h Harness)
	}{
		{"links", testLinks},
		{"vxlan lifecycle", testVXLANLifecycle},
		{"vxlan duplicate vni refused", testVXLANDuplicate},
		{"underlay deletion deletes vxlan", testUnderlayCascade},
		{"addresses", testAddrs},
		{"neighbours", testNeighs},
		{"fdb", testFDB},
		{"routes", testRoutes},
		{"route metrics", testRouteMetrics},
		{"route lookup", testRouteGet},
		{"tx checksum", testTxChecksum},
		{"watch", testWatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.f(t, newHarness(t)) })
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// NewVXLAN creates flannel.1 (VNI 1, port 8472, MAC macA) on the harness underlay.
func (h Harness) NewVXLAN(t *testing.T) dataplane.Link {
	t.Helper()
	l, err := h.DP.CreateVXLAN(h.spec("flannel.1", 1))
	must(t, err)
	return l
}

func (h Harness) spec(name string, vni uint32) dataplane.VXLANSpec {
	return dataplane.VXLANSpec{
		Name: name, MTU: 1450, MAC: macA,
		VXLANAttrs: dataplane.VXLANAttrs{VNI: vni, Port: 8472, Local: UnderlayAddr.Addr(), UnderlayIndex: h.Underlay.Index},
	}
}

func testLinks(t *testing.T, h Harness) {
	got, err := h.DP.LinkByName(h.Underlay.Name)
	must(t, err)
	if got.Index != h.Underlay.Index || !got.Up || got.VXLAN != nil {
		t.Errorf("LinkByName(%s) = %+v, want index %d, up, not vxlan", h.Underlay.Name, got, h.Underlay.Index)
	}
	if _, err := h.DP.LinkByName("nosuchlink0"); !errors.Is(err, dataplane.ErrNotFound) {
		t.Errorf("LinkByName(missing) error = %v, want ErrNotFound", err)
	}
	links, err := h.DP.Links()
	must(t, err)
	found := false
	for _, l := range links {
		if l.Index == h.Underlay.Index {
			found = true
			if !containsPrefix(l.Addrs, UnderlayAddr) || !containsPrefix(l.Addrs, UnderlayAddr6) {
				t.Errorf("Links: underlay addresses %v lack %s or %s", l.Addrs, UnderlayAddr, UnderlayAddr6)
			}
		}
	}
	if !found {
		t.Errorf("Links does not list the underlay %s", h.Underlay.Name)
	}
}

func containsPrefix(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

func testVXLANLifecycle(t *testing.T, h Harness) {
	spec := h.spec("flannel.1", 1)
	spec.GBP = true
	created, err := h.DP.CreateVXLAN(spec)
	must(t, err)
	got, err := h.DP.LinkByName("flannel.1")
	must(t, err)
	want := dataplane.Link{Index: created.Index, Name: "flannel.1", Kind: "vxlan", MAC: macA, MTU: 1450, Up: true, VXLAN: &spec.VXLANAttrs}
	if d := cmp.Diff(want, got, cmpN); d != "" {
		t.Errorf("created vxlan (-want +got):\n%s", d)
	}
	if _, err := h.DP.CreateVXLAN(spec); err == nil {
		t.Error("CreateVXLAN over an existing name succeeded, want an error")
	}
	must(t, h.DP.SetLinkMTU(created.Index, 1400))
	got, err = h.DP.LinkByName("flannel.1")
	must(t, err)
	if got.MTU != 1400 {
		t.Errorf("MTU after SetLinkMTU = %d, want 1400", got.MTU)
	}
	must(t, h.DP.SetLinkUp(created.Index))
	must(t, h.DP.DelLink("flannel.1"))
	must(t, h.DP.DelLink("flannel.1"))
	if _, err := h.DP.LinkByName("flannel.1"); !errors.Is(err, dataplane.ErrNotFound) {
		t.Errorf("LinkByName after DelLink: %v, want ErrNotFound", err)
	}
}

func testVXLANDuplicate(t *testing.T, h Harness) {
	h.NewVXLAN(t)
	if _, err := h.DP.CreateVXLAN(h.spec("weftdup.1", 1)); err == nil {
		t.Error("second vxlan with the same VNI, port and local address was created, want an error")
	}
}

func testUnderlayCascade(t *testing.T, h Harness) {
	h.NewVXLAN(t)
	must(t, h.DP.DelLink(h.Underlay.Name))
	if _, err := h.DP.LinkByName("flannel.1"); !errors.Is(err, dataplane.ErrNotFound) {
		t.Errorf("vxlan after deleting its underlay: %v, want ErrNotFound", err)
	}
}

func testAddrs(t *testing.T, h Harness) {
	l := h.NewVXLAN(t)
	p4, p6 := netip.MustParsePrefix("10.244.1.0/32"), netip.MustParsePrefix("fd00:10:244:1::/128")
	for range 2 {
		must(t, h.DP.AddAddr(l.Index, p4))
		must(t, h.DP.AddAddr(l.Index, p6))
	}
	got, err := h.DP.Addrs(l.Index)
	must(t, err)
	n := 0
	for _, a := range got {
		if a == p4 || a == p6 {
			n++
		}
	}
	if n != 2 {
		t.Errorf("Addrs = %v, want %s and %s once each", got, p4, p6)
	}
	for range 2 {
		must(t, h.DP.DelAddr(l.Index, p4))
	}
	got, err = h.DP.Addrs(l.Index)
	must(t, err)
	if containsPrefix(got, p4) {
		t.Errorf("Addrs after DelAddr = %v, still has %s", got, p4)
	}
}
