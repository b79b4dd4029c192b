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
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/subnetenv"
)

// flannelStandIn configures node n exactly as flanneld (etcd + vxlan) would
// have: its lease in flannel's JSON bound to an etcd lease, flannel.1 with
// its VTEP MAC and /32, FDB + neighbour + route per peer, and a subnet.env in
// flanneld's format. It is done with ip/bridge commands, not weft code.
func flannelStandIn(t *testing.T, c *cluster.Cluster, n *cluster.Node, sn netip.Prefix, mac string) {
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
	value := fmt.Sprintf(`{"PublicIP":"%s","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"%s"}}`, n.IP, mac)
	key := fmt.Sprintf("%s/subnets/%s-%d", c.Prefix(), sn.Addr(), sn.Bits())
	if _, err := cl.Put(ctx, key, value, clientv3.WithLease(grant.ID)); err != nil {
		t.Fatal(err)
	}
	standInDevice(t, ctx, c, cl, n, standInFamily{
		dev: "flannel.1", own: sn, addr: sn.Addr().String() + "/32", mac: mac, local: n.IP.String(), mtu: "1450",
		sysctl: "net.ipv4.ip_forward=1", ipFlag: "-4",
		peer: func(a subnet.LeaseAttrs, psn, _ netip.Prefix) (netip.Prefix, json.RawMessage, netip.Addr) {
			return psn, a.BackendData, a.PublicIP
		},
	})
	// Exactly what flanneld writes.
	env := fmt.Sprintf("FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=%s/%d\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n", sn.Addr().Next(), sn.Bits())
	if err := os.WriteFile(n.SubnetFile(), []byte(env), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A cluster mixing flanneld and weftd nodes works both ways, and switching
// the flanneld node to weftd keeps its pods reachable: weftd adopts the
// device, the MAC and the lease.
func TestMixedClusterAndSwitchOver(t *testing.T) {
	c := newCluster(t, cluster.Options{Nodes: 3, NoWeftd: true})
	for _, n := range c.Nodes[:2] {
		if err := n.StartWeftd(); err != nil {
			t.Fatal(err)
		}
		if err := n.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	old := c.Nodes[2]
	sn := netip.MustParsePrefix("10.244.77.0/24")
	const mac = "2e:aa:bb:cc:dd:03"
	flannelStandIn(t, c, old, sn, mac)
	pods := addPods(t, c, 1) // the stand-in's pod goes through weft's CNI reading flanneld's subnet.env
	if !sn.Contains(pods[2].IP) {
		t.Fatalf("pod on the flanneld node got %s, outside %s", pods[2].IP, sn)
	}
	for _, n := range c.Nodes[:2] {
		waitFor(t, 30*time.Second, n.Name+" routes the flanneld node", func() (bool, string) { return routesTo(n, sn), "" })
	}
	mustReach(t, pods)

	// Switch the node to weftd while a pod on another node pings its pod.
	gaps := pingGaps(pods[0].NS, pods[2].IP)
	if err := old.StartWeftd(); err != nil {
		t.Fatal(err)
	}
	if err := old.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	longest, replies := gaps()
	if replies == 0 {
		t.Fatal("no ping replies at all during the switch-over")
	}
	if longest > 5*time.Second {
		t.Errorf("longest packet-loss gap during the switch-over: %s", longest)
	}
	t.Logf("switch-over: longest loss gap %s, %d replies", longest, replies)
	if got := subnetOf(t, old); got != sn {
		t.Errorf("weftd took subnet %s, want the flanneld node's %s", got, sn)
	}
	out, _ := old.Exec("ip", "link", "show", "flannel.1")
	if !strings.Contains(out, mac) {
		t.Errorf("VTEP MAC changed on switch-over:\n%s", out)
	}
	mustReach(t, pods)
}

// pingGaps pings dst from ns every 100 ms until the returned func is
// called, which reports the longest run without replies and the reply count.
func pingGaps(ns string, dst netip.Addr) func() (time.Duration, int) {
	stop := make(chan struct{})
	var mu sync.Mutex
	var longest time.Duration
	replies := 0
	last := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := cluster.Ping(ns, dst, 1, 300*time.Millisecond); err == nil {
				mu.Lock()
				replies++
				if gap := time.Since(last); gap > longest {
					longest = gap
				}
				last = time.Now()
				mu.Unlock()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return func() (time.Duration, int) {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		if gap := time.Since(last); gap > longest {
			longest = gap
		}
		return longest, replies
	}
}

// flannelReader applies flanneld's own subnet.env reading rules: each line
// split on the first "=", no comments, no quotes; FLANNEL_NETWORK a comma
// list of CIDRs, FLANNEL_SUBNET an address/len, FLANNEL_MTU an integer,
// FLANNEL_IPMASQ a bool.
func flannelReader(t *testing.T, content string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimRight(content, "\n"), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.ContainsAny(line, "#\"'") || strings.TrimSpace(k) != k {
			t.Fatalf("line %q is not flannel's KEY=value form", line)
		}
		out[k] = v
	}
	return out
}

// Golden: the subnet.env weftd writes reads under flannel's rules.
func TestSubnetEnvReadsUnderFlannelRules(t *testing.T) {
	env := subnetenv.Env{
		Networks: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		Subnet:   subnetenv.GatewayPrefix(netip.MustParsePrefix("10.244.3.0/24")),
		MTU:      1450, IPMasq: true,
	}
	got := flannelReader(t, string(env.Marshal()))
	want := map[string]string{"FLANNEL_NETWORK": "10.244.0.0/16", "FLANNEL_SUBNET": "10.244.3.1/24", "FLANNEL_MTU": "1450", "FLANNEL_IPMASQ": "true"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("flannel reads %v, want %v", got, want)
	}
}

// standInFamily is what a flanneld stand-in sets up in one address family.
type standInFamily struct {
	dev, addr, mac, local, mtu, sysctl, ipFlag string
	own                                        netip.Prefix
	// peer picks a lease's subnet, backend data and public IP in this
	// family, from its attributes and its key's IPv4 and IPv6 subnets.
	peer func(a subnet.LeaseAttrs, sn, sn6 netip.Prefix) (netip.Prefix, json.RawMessage, netip.Addr)
}

// standInDevice does with ip and bridge commands what flanneld does in one
// family: its VXLAN device with the VTEP MAC and the subnet's address, and
// an FDB entry, a permanent neighbour and a route for every other lease.
func standInDevice(t *testing.T, ctx context.Context, c *cluster.Cluster, cl *clientv3.Client, n *cluster.Node, f standInFamily) {
	t.Helper()
	run := func(args ...string) {
		t.Helper()
		if _, err := n.Exec(args...); err != nil {
			t.Fatal(err)
		}
	}
	run("ip", "link", "add", f.dev, "type", "vxlan", "id", "1", "local", f.local, "dev", "eth0", "dstport", "8472", "nolearning")
	link := []string{"ip", "link", "set", f.dev, "address", f.mac}
	if f.mtu != "" {
		link = append(link, "mtu", f.mtu)
	}
	run(link...)
	addr := []string{"ip", f.ipFlag, "addr", "add", f.addr, "dev", f.dev}
	if f.ipFlag == "-6" {
		addr = append(addr, "nodad")
	}
	run(addr...)
	run("ip", "link", "set", f.dev, "up")
	run("sysctl", "-qw", f.sysctl)
	r, err := cl.Get(ctx, c.Prefix()+"/subnets/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range r.Kvs {
		sn, sn6, err := subnet.ParseSubnetKey(strings.TrimPrefix(string(kv.Key), c.Prefix()+"/subnets/"))
		if err != nil {
			continue
		}
		var a subnet.LeaseAttrs
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			t.Fatal(err)
		}
		psn, data, public := f.peer(a, sn, sn6)
		if psn == f.own || !psn.IsValid() {
			continue
		}
		d, err := subnet.DecodeVXLANData(data)
		if err != nil {
			t.Fatalf("lease %s: %v", kv.Key, err)
		}
		gw := psn.Addr().String()
		run("bridge", "fdb", "append", d.VtepMAC.String(), "dev", f.dev, "dst", public.String(), "self", "permanent")
		run("ip", f.ipFlag, "neigh", "replace", gw, "lladdr", d.VtepMAC.String(), "dev", f.dev, "nud", "permanent")
		run("ip", f.ipFlag, "route", "replace", psn.String(), "via", gw, "dev", f.dev, "onlink")
	}
}
