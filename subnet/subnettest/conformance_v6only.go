// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnettest

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weft-net/weft/subnet"
)

// TestLeaseV6 returns the IPv6-only lease of subnet sn6 held by the node
// with IPv6 address ip6, as flanneld writes it: PublicIP 0.0.0.0 ("no
// IPv4") and only BackendV6Data, with a MAC derived from ip6. Test helper.
func TestLeaseV6(sn6, ip6 string) subnet.Lease {
	a := netip.MustParseAddr(ip6).As16()
	return subnet.Lease{
		IPv6Subnet: netip.MustParsePrefix(sn6),
		Attrs: subnet.LeaseAttrs{
			PublicIP: netip.IPv4Unspecified(), PublicIPv6: netip.MustParseAddr(ip6), BackendType: "vxlan",
			BackendV6Data: json.RawMessage(fmt.Sprintf(`{"VNI":1,"VtepMAC":"2e:66:%02x:%02x:%02x:%02x"}`, a[12], a[13], a[14], a[15])),
		},
	}
}

// testIPv6Only: an IPv6-only lease (key 0.0.0.0-0&<v6>) is created, listed,
// found by its IPv6 subnet, updated and deleted like any other, and is never
// taken for the IPv4 subnet 0.0.0.0/0.
func testIPv6Only(t *testing.T, r subnet.Registry) {
	ctx := Ctx(t)
	a := MustCreate(t, r, TestLease("&fd00:10:244:3::/64", "2001:db8:18::3"), time.Hour)
	b := MustCreate(t, r, TestLease("&fd00:10:244:4::/64", "2001:db8:18::4"), 0)
	if a.Key() != "0.0.0.0-0&fd00:10:244:3::-64" || a.LeaseID == 0 {
		t.Errorf("created %s (etcd lease %x), want key 0.0.0.0-0&fd00:10:244:3::-64 bound to an etcd lease", a.Key(), a.LeaseID)
	}
	_, err := r.CreateLease(ctx, TestLease("&fd00:10:244:3::/64", "2001:db8:18::9"), time.Hour)
	wantErr(t, "second CreateLease of an IPv6-only key", err, subnet.ErrLeaseExists)
	got, _ := MustList(t, r)
	if d := cmp.Diff([]subnet.Lease{a, b}, got, LeaseCmp); d != "" {
		t.Errorf("ListLeases (-want +got):\n%s", d)
	}
	for _, l := range []subnet.Lease{a, b} {
		g, err := r.GetLease(ctx, l.Primary())
		if err != nil {
			t.Fatalf("GetLease(%s): %v", l.Primary(), err)
		}
		if d := cmp.Diff(l, g, LeaseCmp); d != "" {
			t.Errorf("GetLease(%s) (-want +got):\n%s", l.Primary(), d)
		}
	}
	_, err = r.GetLease(ctx, netip.MustParsePrefix("0.0.0.0/0"))
	wantErr(t, "GetLease(0.0.0.0/0)", err, subnet.ErrLeaseNotFound)
	_, err = r.GetLease(ctx, netip.MustParsePrefix("fd00:10:244:5::/64"))
	wantErr(t, "GetLease(absent IPv6 subnet)", err, subnet.ErrLeaseNotFound)

	moved := a
	moved.Attrs = TestLease("&fd00:10:244:3::/64", "2001:db8:18::33").Attrs
	u, err := r.UpdateLease(ctx, moved)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := r.GetLease(ctx, u.Primary()); err != nil || g.Attrs.PublicIPv6 != moved.Attrs.PublicIPv6 {
		t.Errorf("after update GetLease = %+v, %v; want PublicIPv6 %s", g.Attrs, err, moved.Attrs.PublicIPv6)
	}
	if err := r.DeleteLease(ctx, u); err != nil {
		t.Fatal(err)
	}
	_, err = r.GetLease(ctx, u.Primary())
	wantErr(t, "GetLease after delete", err, subnet.ErrLeaseNotFound)
}
