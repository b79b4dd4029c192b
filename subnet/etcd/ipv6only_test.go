// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package etcd_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/etcd"
	"github.com/weft-net/weft/subnet/etcd/etcdtest"
	"github.com/weft-net/weft/subnet/subnettest"
)

// In etcd, an IPv6-only lease written by flanneld (as measured with
// v0.28.9) is read as such, and the lease weft writes next to it has
// flanneld's exact key and value form.
func TestIPv6OnlyFlanneldForm(t *testing.T) {
	ctx := context.Background()
	srv := etcdtest.Start(t)
	client := srv.Client(t)
	r := etcd.New(client, testPrefix(t), nullLog())
	const theirs = `{"PublicIP":"0.0.0.0","PublicIPv6":"2001:db8:18::2","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"6e:a7:1f:00:00:02"}}`
	if _, err := client.Put(ctx, r.SubnetsPrefix()+"0.0.0.0-0&fd00:10:244:e::-64", theirs); err != nil {
		t.Fatal(err)
	}
	cfg, err := subnet.ParseConfig([]byte(`{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/48",
		"IPv6SubnetMin":"fd00:10:244:e::","IPv6SubnetMax":"fd00:10:244:f::","Backend":{"Type":"vxlan"}}`))
	if err != nil {
		t.Fatal(err)
	}
	m := subnet.NewManager(r, subnet.ManagerOptions{TTL: time.Hour})
	attrs := subnettest.TestLeaseV6("fd00::/64", "2001:db8:18::3").Attrs
	attrs.PublicIP = netip.Addr{} // the Manager writes flanneld's 0.0.0.0
	l, err := m.Acquire(ctx, cfg, subnet.AcquireRequest{Attrs: attrs})
	if err != nil {
		t.Fatal(err)
	}
	const key = "0.0.0.0-0&fd00:10:244:f::-64" // the only free subnet
	if l.Key() != key {
		t.Fatalf("acquired %s, want %s", l.Key(), key)
	}
	resp, err := client.Get(ctx, r.SubnetsPrefix()+key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get %s: %v %v", key, resp, err)
	}
	want := fmt.Sprintf(`{"PublicIP":"0.0.0.0","PublicIPv6":"2001:db8:18::3","BackendType":"vxlan","BackendV6Data":%s}`, attrs.BackendV6Data)
	if got := string(resp.Kvs[0].Value); got != want {
		t.Errorf("value written:\n%s\nwant flanneld's form:\n%s", got, want)
	}
	if resp.Kvs[0].Lease == 0 {
		t.Error("the lease key is not bound to an etcd lease")
	}
	leases, _, err := r.ListLeases(ctx)
	if err != nil || len(leases) != 2 {
		t.Fatalf("ListLeases = %v, %v; want 2 leases", leases, err)
	}
	for _, x := range leases {
		if x.Subnet.IsValid() || x.Attrs.PublicIP != netip.IPv4Unspecified() || len(x.Attrs.BackendV6Data) == 0 {
			t.Errorf("listed %s as %+v", x.Key(), x)
		}
	}
	ad := subnet.Admit(cfg, subnet.Local{IPv6Subnet: l.IPv6Subnet, PublicIP: l.Attrs.PublicIP, PublicIPv6: l.Attrs.PublicIPv6}, leases)
	if len(ad.Admitted) != 1 || ad.Admitted[0].Attrs.PublicIPv6.String() != "2001:db8:18::2" || len(ad.Rejected) != 0 {
		t.Errorf("admission on the weft node: %+v, want flanneld's lease admitted", ad)
	}
}
