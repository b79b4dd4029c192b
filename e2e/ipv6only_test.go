// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/subnet"
)

const v6OnlyConf = `{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/48","Backend":{"Type":"vxlan"}}`

// flannelStandInV6 configures node n as flanneld v0.28.9 (etcd + vxlan)
// does in an IPv6-only network, with ip/bridge commands and no weft code:
// its lease under the key 0.0.0.0-0&<sn6> with PublicIP 0.0.0.0 and only
// BackendV6Data, flannel-v6.1 alone with its subnet's network address, FDB
// + neighbour + route per peer, and a subnet.env without IPv4 lines and
// with FLANNEL_MTU 1450 (flanneld subtracts 50 on an IPv6 underlay too; the
// kernel refuses that MTU for the device itself, which keeps 1500 - 70).
func flannelStandInV6(t *testing.T, c *cluster.Cluster, n *cluster.Node, sn6 netip.Prefix, mac string) {
	t.Helper()
	ctx := context.Background()
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	grant, err := cl.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	ip6 := cluster.NodeIPv6(n.IP)
	value := fmt.Sprintf(`{"PublicIP":"0.0.0.0","PublicIPv6":"%s","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"%s"}}`, ip6, mac)
	key := fmt.Sprintf("%s/subnets/0.0.0.0-0&%s-%d", c.Prefix(), sn6.Addr(), sn6.Bits())
	if _, err := cl.Put(ctx, key, value, clientv3.WithLease(grant.ID)); err != nil {
		t.Fatal(err)
	}
	standInDevice(t, ctx, c, cl, n, standInFamily{
		dev: "flannel-v6.1", own: sn6, addr: sn6.Addr().String() + "/128", mac: mac, local: ip6.String(),
		sysctl: "net.ipv6.conf.all.forwarding=1", ipFlag: "-6",
		peer: func(a subnet.LeaseAttrs, _, psn6 netip.Prefix) (netip.Prefix, json.RawMessage, netip.Addr) {
			return psn6, a.BackendV6Data, a.PublicIPv6
		},
	})
	env := fmt.Sprintf("FLANNEL_IPV6_NETWORK=fd00:10:244::/48\nFLANNEL_IPV6_SUBNET=%s/%d\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n", sn6.Addr().Next(), sn6.Bits())
	if err := os.WriteFile(n.SubnetFile(), []byte(env), 0o644); err != nil {
		t.Fatal(err)
	}
}

// deviceMAC reads a device's MAC with iproute2.
func deviceMAC(t *testing.T, n *cluster.Node, dev string) (mac string, mtu int) {
	t.Helper()
	out, err := n.Exec("ip", "-j", "link", "show", dev)
	if err != nil {
		t.Fatalf("%s: %v", n.Name, err)
	}
	var ls []struct {
		Address string `json:"address"`
		MTU     int    `json:"mtu"`
	}
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 1 {
		t.Fatalf("%s: ip -j link show %s: %v %s", n.Name, dev, err, out)
	}
	return ls[0].Address, ls[0].MTU
}

// IPv6-only end to end: over an IPv6 underlay (etcd stays on IPv4), two
// weftd nodes and a flanneld stand-in share one IPv6-only network; weftd
// writes flanneld's exact lease and subnet.env forms, runs flannel-v6.1
// alone and IPv6 masquerade only, pods get IPv6 addresses only, and every
// pod reaches every other over ICMPv6 and TCP.
func TestIPv6Only(t *testing.T) {
	c := newCluster(t, cluster.Options{Nodes: 3, NoWeftd: true, DualStack: true, NetConf: v6OnlyConf, WeftdArgs: []string{"--ip-masq"}})
	weftNodes, old := c.Nodes[:2], c.Nodes[2]
	for _, n := range weftNodes {
		if err := n.StartWeftd(); err != nil {
			t.Fatal(err)
		}
		if err := n.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	kvs, err := c.Get(context.Background(), c.Prefix()+"/subnets/")
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 2 {
		t.Fatalf("%d leases, want 2: %v", len(kvs), kvs)
	}
	for _, n := range weftNodes {
		env, err := os.ReadFile(n.SubnetFile())
		if err != nil {
			t.Fatal(err)
		}
		e, err := n.SubnetEnv()
		if err != nil {
			t.Fatal(err)
		}
		sn6 := e.IPv6Subnet.Masked()
		// flanneld's lines, with weft's MTU: 1500 - 70 for the IPv6 underlay.
		want := fmt.Sprintf("FLANNEL_IPV6_NETWORK=fd00:10:244::/48\nFLANNEL_IPV6_SUBNET=%s\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=true\n", e.IPv6Subnet)
		if string(env) != want || !netip.MustParsePrefix("fd00:10:244::/48").Contains(sn6.Addr()) {
			t.Errorf("%s: subnet.env\n%s\nwant\n%s", n.Name, env, want)
		}
		mac, mtu := deviceMAC(t, n, "flannel-v6.1")
		if mtu != 1430 {
			t.Errorf("%s: flannel-v6.1 MTU %d, want 1430", n.Name, mtu)
		}
		if out, err := n.Exec("ip", "link", "show", "flannel.1"); err == nil {
			t.Errorf("%s: flannel.1 exists in an IPv6-only network:\n%s", n.Name, out)
		}
		key := fmt.Sprintf("%s/subnets/0.0.0.0-0&%s-64", c.Prefix(), sn6.Addr())
		value := fmt.Sprintf(`{"PublicIP":"0.0.0.0","PublicIPv6":"%s","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"%s"}}`, cluster.NodeIPv6(n.IP), mac)
		found := false
		for _, kv := range kvs {
			if kv.Key == key {
				found = true
				if kv.Value != value {
					t.Errorf("%s: lease value\n%s\nwant flanneld's form\n%s", n.Name, kv.Value, value)
				}
			}
		}
		if !found {
			t.Errorf("%s: no lease key %s among %v", n.Name, key, kvs)
		}
		nat, err := n.Exec("nft", "list", "table", "inet", "weft")
		if err != nil || !strings.Contains(nat, "ip6 saddr fd00:10:244::/48 ip6 daddr fd00:10:244::/48 return") || strings.Contains(nat, "ip saddr") {
			t.Errorf("%s: masquerade table (want IPv6 rules only): %v\n%s", n.Name, err, nat)
		}
	}

	sn6 := netip.MustParsePrefix("fd00:10:244:77::/64")
	flannelStandInV6(t, c, old, sn6, "2e:aa:bb:cc:dd:03")
	for _, n := range weftNodes {
		waitFor(t, 30*time.Second, n.Name+" routes the flanneld node", func() (bool, string) {
			out, err := n.Exec("ip", "-6", "route", "show", sn6.String())
			return err == nil && strings.Contains(out, "flannel-v6.1"), out
		})
	}
	pods := addPods(t, c, 1) // the stand-in's pod goes through weft's CNI reading flanneld's subnet.env
	if !sn6.Contains(pods[2].IPv6) {
		t.Errorf("pod on the flanneld node got %s, outside %s", pods[2].IPv6, sn6)
	}
	for _, p := range pods {
		v4, _ := p.Exec("ip", "-4", "-o", "addr", "show", "dev", "eth0")
		def, _ := p.Exec("ip", "-6", "route", "show", "default")
		gw := netip.PrefixFrom(p.IPv6, 64).Masked().Addr().Next()
		if p.IP.IsValid() || !p.IPv6.IsValid() || strings.TrimSpace(v4) != "" || !strings.Contains(def, "via "+gw.String()) {
			t.Errorf("%s: IPv4 %v (%q), IPv6 %v, default route %q; want IPv6 only and a default route via %s", p, p.IP, v4, p.IPv6, def, gw)
		}
	}
	for _, a := range pods {
		for _, b := range pods {
			if a == b {
				continue
			}
			waitFor(t, 30*time.Second, "ICMPv6 "+a.String()+" -> "+b.String(), func() (bool, string) {
				_, err := cluster.Ping(a.NS, b.IPv6, 1, time.Second)
				return err == nil, fmt.Sprint(err)
			})
			waitFor(t, 30*time.Second, "TCP "+a.String()+" -> "+b.String(), func() (bool, string) {
				_, err := cluster.TCPTransfer(context.Background(), a.NS, b.NS, b.IPv6, 5003, 1<<20, 10*time.Second)
				return err == nil, fmt.Sprint(err)
			})
		}
	}
}
