// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet_test

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/subnettest"
)

const v6OnlyConfig = `{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/48","Backend":{"Type":"vxlan"}}`

// flanneldV6Key and flanneldV6Value are a lease exactly as flanneld
// v0.28.9 writes it in an IPv6-only network (etcd mode, measured).
const (
	flanneldV6Key   = "0.0.0.0-0&fd00:10:244:e::-64"
	flanneldV6Value = `{"PublicIP":"0.0.0.0","PublicIPv6":"2001:db8:18::2","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"6e:a7:1f:00:00:02"}}`
)

// An IPv6-only config is accepted with flannel's IPv6 defaults, no IPv4
// network, and survives weftctl's write-back.
func TestParseConfigIPv6Only(t *testing.T) {
	c := mustConfig(t, v6OnlyConfig)
	if c.EnableIPv4 || !c.EnableIPv6 || c.Network.IsValid() || c.SubnetLen != 0 {
		t.Errorf("IPv4 side of an IPv6-only config: EnableIPv4 %v Network %v SubnetLen %d", c.EnableIPv4, c.Network, c.SubnetLen)
	}
	if c.IPv6SubnetLen != 64 || c.IPv6SubnetMin.String() != "fd00:10:244:1::" || c.IPv6SubnetMax.String() != "fd00:10:244:ffff::" {
		t.Errorf("IPv6 defaults: len %d min %s max %s", c.IPv6SubnetLen, c.IPv6SubnetMin, c.IPv6SubnetMax)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"EnableIPv4":false`) || strings.Contains(string(b), `"Network"`) {
		t.Errorf("written back as %s: want EnableIPv4 false and no Network", b)
	}
	if again := mustConfig(t, string(b)); again.IPv6Network != c.IPv6Network || again.EnableIPv4 {
		t.Errorf("round trip changed the config: %s", b)
	}
}

// flanneld's IPv6-only key and value read as "no IPv4" and write back
// byte for byte.
func TestFlanneldIPv6OnlyLeaseRoundTrip(t *testing.T) {
	sn, sn6, err := subnet.ParseSubnetKey(flanneldV6Key)
	if err != nil || sn.IsValid() || sn6 != netip.MustParsePrefix("fd00:10:244:e::/64") {
		t.Fatalf("ParseSubnetKey(%q) = %v, %v, %v", flanneldV6Key, sn, sn6, err)
	}
	var a subnet.LeaseAttrs
	if err := json.Unmarshal([]byte(flanneldV6Value), &a); err != nil {
		t.Fatal(err)
	}
	l := subnet.Lease{Subnet: sn, IPv6Subnet: sn6, Attrs: a}
	if l.Key() != flanneldV6Key || l.Primary() != sn6 {
		t.Errorf("Key %q Primary %v, want %q and %v", l.Key(), l.Primary(), flanneldV6Key, sn6)
	}
	if a.PublicIP != netip.IPv4Unspecified() || a.NodeIP() != netip.MustParseAddr("2001:db8:18::2") || len(a.BackendData) != 0 {
		t.Errorf("attrs %+v: want PublicIP 0.0.0.0, NodeIP the PublicIPv6, no BackendData", a)
	}
	if d, err := subnet.DecodeVXLANData(a.BackendV6Data); err != nil || d.VNI != 1 || d.VtepMAC.String() != "6e:a7:1f:00:00:02" {
		t.Errorf("BackendV6Data = %+v, %v", d, err)
	}
	b, err := json.Marshal(a)
	if err != nil || string(b) != flanneldV6Value {
		t.Errorf("marshalled as\n%s (%v), want flanneld's\n%s", b, err, flanneldV6Value)
	}
}

// v6Request is the AcquireRequest of the IPv6-only node ip6, as weftd makes
// it: PublicIP 0.0.0.0, only BackendV6Data.
func v6Request(ip6 string) subnet.AcquireRequest {
	return subnet.AcquireRequest{Attrs: subnettest.TestLeaseV6("fd00::/64", ip6).Attrs}
}

// Acquire in an IPv6-only network: keys with the placeholder, nodes told
// apart by PublicIPv6 although all share PublicIP 0.0.0.0, the previous
// IPv6 subnet reused, and requests that would write another form refused.
func TestAcquireIPv6Only(t *testing.T) {
	cfg := mustConfig(t, v6OnlyConfig)
	f := subnettest.NewFakeRegistry()
	m := newManager(t, f, subnet.ManagerOptions{})
	a := mustAcquire(t, m, cfg, v6Request("2001:db8:18::1"))
	if a.Subnet.IsValid() || !subnet.Fits(cfg, a) || !strings.HasPrefix(a.Key(), "0.0.0.0-0&fd00:10:244:") {
		t.Fatalf("acquired %s: want an IPv6-only key in fd00:10:244::/48", a.Key())
	}
	if a.Attrs.PublicIP != netip.IPv4Unspecified() {
		t.Errorf("PublicIP %v, want 0.0.0.0 as flanneld writes", a.Attrs.PublicIP)
	}
	b := mustAcquire(t, m, cfg, v6Request("2001:db8:18::2"))
	if b.Key() == a.Key() {
		t.Fatalf("two nodes got %s: the shared PublicIP 0.0.0.0 must not make them one node", a.Key())
	}
	if again := mustAcquire(t, m, cfg, v6Request("2001:db8:18::1")); again.Key() != a.Key() || again.LeaseID != a.LeaseID {
		t.Errorf("restart of node 1 got %s (etcd lease %x), want its lease %s (%x)", again.Key(), again.LeaseID, a.Key(), a.LeaseID)
	}
	prev := v6Request("2001:db8:18::3")
	prev.Previous, prev.PreviousIPv6 = netip.MustParsePrefix("10.244.9.0/24"), netip.MustParsePrefix("fd00:10:244:99::/64")
	if c := mustAcquire(t, m, cfg, prev); c.Key() != "0.0.0.0-0&fd00:10:244:99::-64" {
		t.Errorf("with a previous IPv6 subnet got %s, want 0.0.0.0-0&fd00:10:244:99::-64", c.Key())
	}
	if n := len(listLeases(t, f)); n != 3 {
		t.Errorf("%d leases, want 3", n)
	}
	bad := v6Request("2001:db8:18::4")
	bad.Attrs.PublicIP = netip.MustParseAddr("198.18.0.4")
	if _, err := m.Acquire(subnettest.Ctx(t), cfg, bad); err == nil || !strings.Contains(err.Error(), "IPv6-only") {
		t.Errorf("Acquire with an IPv4 PublicIP in an IPv6-only network: %v, want an error", err)
	}
	bad = v6Request("2001:db8:18::4")
	bad.Attrs.PublicIPv6 = netip.Addr{}
	if _, err := m.Acquire(subnettest.Ctx(t), cfg, bad); err == nil || !strings.Contains(err.Error(), "PublicIPv6") {
		t.Errorf("Acquire without PublicIPv6: %v, want an error naming PublicIPv6", err)
	}
}

func TestAcquireIPv6OnlyExhausted(t *testing.T) {
	cfg := mustConfig(t, `{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/48",
		"IPv6SubnetMin":"fd00:10:244:1::","IPv6SubnetMax":"fd00:10:244:1::","Backend":{"Type":"vxlan"}}`)
	m := newManager(t, subnettest.NewFakeRegistry(), subnet.ManagerOptions{})
	mustAcquire(t, m, cfg, v6Request("2001:db8:18::1"))
	_, err := m.Acquire(subnettest.Ctx(t), cfg, v6Request("2001:db8:18::2"))
	if !errors.Is(err, subnet.ErrNoFreeSubnet) || !strings.Contains(err.Error(), "fd00:10:244::/48") || !strings.Contains(err.Error(), "1 of 1") {
		t.Errorf("exhausted IPv6-only range: %v", err)
	}
}

// Stage 2 on an IPv6-only node: every lease, ours included, carries
// PublicIP 0.0.0.0, which names no node; our own address is PublicIPv6.
func TestAdmitIPv6OnlyPlaceholderPublicIP(t *testing.T) {
	cfg := mustConfig(t, v6OnlyConfig)
	own := subnettest.TestLease("&fd00:10:244:1::/64", "2001:db8:18::1")
	local := subnet.Local{IPv6Subnet: own.IPv6Subnet, PublicIP: own.Attrs.PublicIP, PublicIPv6: own.Attrs.PublicIPv6}
	peer := subnettest.TestLease("&fd00:10:244:2::/64", "2001:db8:18::2")
	impostor := subnettest.TestLease("&fd00:10:244:3::/64", "2001:db8:18::1")
	v4 := subnettest.TestLease("10.244.4.0/24", "198.18.0.4")
	got := subnet.Admit(cfg, local, []subnet.Lease{own, peer, impostor, v4})
	if len(got.Admitted) != 1 || got.Admitted[0].Key() != peer.Key() {
		t.Errorf("admitted %v, want only %s", got.Admitted, peer.Key())
	}
	want := map[string]subnet.Reason{impostor.Key(): subnet.ReasonOwnAddress, v4.Key(): subnet.ReasonFamily}
	for _, r := range got.Rejected {
		if want[r.Lease.Key()] != r.Reason {
			t.Errorf("%s rejected as %s (%s), want %s", r.Lease.Key(), r.Reason, r.Detail, want[r.Lease.Key()])
		}
		delete(want, r.Lease.Key())
	}
	if len(want) > 0 {
		t.Errorf("not rejected: %v", want)
	}
}

// An operator's reservation in an IPv6-only network names the node by
// PublicIPv6 (PublicIP is the placeholder) and is taken over by that node.
func TestAcquireIPv6OnlyReservation(t *testing.T) {
	cfg := mustConfig(t, v6OnlyConfig)
	f := subnettest.NewFakeRegistry()
	res := subnettest.MustCreate(t, f, subnet.Lease{IPv6Subnet: netip.MustParsePrefix("fd00:10:244:9::/64"),
		Attrs: subnet.LeaseAttrs{PublicIP: netip.IPv4Unspecified(), PublicIPv6: netip.MustParseAddr("2001:db8:18::9")}}, 0)
	m := newManager(t, f, subnet.ManagerOptions{})
	other := mustAcquire(t, m, cfg, v6Request("2001:db8:18::8"))
	if other.Key() == res.Key() {
		t.Fatalf("node 8 took node 9's reservation %s", res.Key())
	}
	l := mustAcquire(t, m, cfg, v6Request("2001:db8:18::9"))
	if l.Key() != res.Key() || !l.Reserved() || len(l.Attrs.BackendV6Data) == 0 {
		t.Errorf("node 9 got %s (reserved %v, BackendV6Data %s), want its reservation %s filled in", l.Key(), l.Reserved(), l.Attrs.BackendV6Data, res.Key())
	}
}
