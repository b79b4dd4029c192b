// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/subnet"
)

// Issue 11: stray or hostile etcd data never reaches the kernel, a node
// defends its own lease, node state is healed and /readyz tells the truth.
// Every test here runs on real etcd, node namespaces and pods pinging
// across nodes; every command runs inside a node or pod namespace.
//
// On the code before 47ecf40 every rejection subtest fails: there was no
// admission, no "lease rejected, not programmed" warning and no
// weft_leases_rejected series, and the keys whose subnet, length, VNI,
// duplicate, own PublicIP or overlapping route were not checked were
// programmed (decode in subnet/etcd/leases.go checked neither containment
// nor length; the vxlan plan only skipped a wrong BackendType or unreadable
// BackendData). Each subtest says what the old code did besides.

// strayJSON is a vxlan lease value as flanneld writes it.
func strayJSON(publicIP, mac string, vni int) string {
	return fmt.Sprintf(`{"PublicIP":"%s","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":%d,"VtepMAC":"%s"}}`,
		publicIP, vni, mac)
}

// etcdClient returns a client for the cluster's etcd, closed at cleanup.
func etcdClient(t *testing.T, c *cluster.Cluster) *clientv3.Client {
	t.Helper()
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func subnetsKey(c *cluster.Cluster, suffix string) string { return c.Prefix() + "/subnets/" + suffix }

func nodeKey(c *cluster.Cluster, sn netip.Prefix) string {
	return subnetsKey(c, fmt.Sprintf("%s-%d", sn.Addr(), sn.Bits()))
}

// putStray writes a key under subnets/ and deletes it at cleanup. bound
// binds it to an etcd lease of its own, as another node's key would be;
// otherwise it is a plain `etcdctl put` (a lease-less key).
func putStray(t *testing.T, cl *clientv3.Client, key, value string, bound bool) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var opts []clientv3.OpOption
	if bound {
		g, err := cl.Grant(ctx, 600)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, clientv3.WithLease(g.ID))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = cl.Revoke(ctx, g.ID)
		})
	}
	r, err := cl.Put(ctx, key, value, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = cl.Delete(ctx, key)
	})
	return r.Header.Revision
}

// getKV reads one key; nil when absent.
func getKV(t *testing.T, cl *clientv3.Client, key string) (value string, leaseID int64, modRev int64, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := cl.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Kvs) == 0 {
		return "", 0, 0, false
	}
	kv := r.Kvs[0]
	return string(kv.Value), kv.Lease, kv.ModRevision, true
}

// metricValue reads one series (name with its labels, as exposed) from the
// node's /metrics.
func metricValue(n *cluster.Node, series string) (float64, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code, body, err := n.Get(ctx, "/metrics")
	if err != nil || code != http.StatusOK {
		return 0, false
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

func mustMetric(t *testing.T, n *cluster.Node, series string) float64 {
	t.Helper()
	v, ok := metricValue(n, series)
	if !ok {
		t.Fatalf("%s: no series %s in /metrics", n.Name, series)
	}
	return v
}

// logLines counts the lines of the node's weftd log holding every part.
func logLines(n *cluster.Node, parts ...string) int {
	b, _ := os.ReadFile(n.LogFile())
	count := 0
	for _, line := range strings.Split(string(b), "\n") {
		all := true
		for _, p := range parts {
			if !strings.Contains(line, p) {
				all = false
				break
			}
		}
		if all {
			count++
		}
	}
	return count
}

func readyz(n *cluster.Node) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	code, body, err := n.Get(ctx, "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	return code, body
}

// waitRejected waits until every node in nodes logged the rejection of the
// key holding keyPart for reason and counts it in weft_leases_rejected.
func waitRejected(t *testing.T, nodes []*cluster.Node, keyPart string, reason subnet.Reason) {
	t.Helper()
	series := fmt.Sprintf(`weft_leases_rejected{reason="%s"}`, reason)
	for _, n := range nodes {
		waitFor(t, 30*time.Second, n.Name+" rejects "+keyPart+" for "+string(reason), func() (bool, string) {
			logged := logLines(n, "lease rejected, not programmed", keyPart, "reason="+string(reason))
			v, _ := metricValue(n, series)
			return logged > 0 && v >= 1, fmt.Sprintf("log lines %d, %s %v", logged, series, v)
		})
	}
}

// notProgrammed fails if any node routes sn over the overlay, checking a few
// times over hold (the backend applies asynchronously).
func notProgrammed(t *testing.T, nodes []*cluster.Node, sn netip.Prefix, hold time.Duration) {
	t.Helper()
	deadline := time.Now().Add(hold)
	for {
		for _, n := range nodes {
			if out, _ := n.Exec("ip", "route", "show", sn.String()); strings.Contains(out, "flannel") {
				t.Fatalf("%s programmed the rejected %s: %s", n.Name, sn, out)
			}
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// overlayState is a node's overlay entries (routes, FDB, neighbours on
// flannel.1), normalised for comparison.
func overlayState(n *cluster.Node) string {
	var b strings.Builder
	for _, args := range [][]string{
		{"ip", "-4", "route", "show", "dev", "flannel.1"},
		{"bridge", "fdb", "show", "dev", "flannel.1"},
		{"ip", "neigh", "show", "dev", "flannel.1"},
	} {
		out, err := n.Exec(args...)
		if err != nil {
			out = "error: " + err.Error()
		}
		b.WriteString(out)
	}
	return b.String()
}

// stable fails unless each node's overlay state stays the same over d.
func stable(t *testing.T, nodes []*cluster.Node, d time.Duration) {
	t.Helper()
	first := map[*cluster.Node]string{}
	for _, n := range nodes {
		first[n] = overlayState(n)
	}
	for end := time.Now().Add(d); time.Now().Before(end); {
		time.Sleep(500 * time.Millisecond)
		for _, n := range nodes {
			if now := overlayState(n); now != first[n] {
				t.Errorf("%s: overlay entries changed (flapping?)\nbefore:\n%s\nafter:\n%s", n.Name, first[n], now)
				return
			}
		}
	}
}

func vtepMAC(t *testing.T, n *cluster.Node) string {
	t.Helper()
	out, err := n.Exec("cat", "/sys/class/net/flannel.1/address")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// neighMAC is the MAC node n's flannel.1 neighbour entry gives ip.
func neighMAC(n *cluster.Node, ip netip.Addr) string {
	out, _ := n.Exec("ip", "neigh", "show", ip.String(), "dev", "flannel.1")
	f := strings.Fields(out)
	for i := range f {
		if f[i] == "lladdr" && i+1 < len(f) {
			return f[i+1]
		}
	}
	return ""
}

// fdbHas reports whether n's flannel.1 FDB sends mac to dst.
func fdbHas(n *cluster.Node, mac string, dst netip.Addr) bool {
	out, _ := n.Exec("bridge", "fdb", "show", "dev", "flannel.1")
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, mac+" ") && strings.Contains(line, "dst "+dst.String()+" ") {
			return true
		}
	}
	return false
}

func fdbHasMAC(n *cluster.Node, mac string) bool {
	out, _ := n.Exec("bridge", "fdb", "show", "dev", "flannel.1")
	return strings.Contains(out, mac+" ")
}

// watchLoss pings between the pods (each to the next, across nodes) in the
// background; the returned func stops and fails on a loss gap over 5 s.
func watchLoss(t *testing.T, pods []*cluster.Pod) func() {
	t.Helper()
	var stops []func() (time.Duration, int)
	var names []string
	for i, a := range pods {
		b := pods[(i+1)%len(pods)]
		if a.Node == b.Node {
			continue
		}
		stops = append(stops, pingGaps(a.NS, b.IP))
		names = append(names, a.String()+" -> "+b.String())
	}
	return func() {
		t.Helper()
		for i, stop := range stops {
			longest, replies := stop()
			if replies == 0 || longest > 5*time.Second {
				t.Errorf("%s: %d replies, longest loss gap %s", names[i], replies, longest)
			}
		}
	}
}

// strayCluster starts nodes with weftd after addRoutes ran in each node
// namespace (routes weft did not install, there before weftd starts).
func strayCluster(t *testing.T, opts cluster.Options, routes ...[]string) *cluster.Cluster {
	t.Helper()
	opts.NoWeftd = true
	c := newCluster(t, opts)
	for _, n := range c.Nodes {
		for _, r := range routes {
			if _, err := n.Exec(r...); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.StartWeftd(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.Nodes {
		if err := n.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// One subtest per rejection reason that a 10.244.0.0/16 network isolates
// (the underlay rules need another network: TestStrayLeaseCoversUnderlay),
// then the overlapping /25. Nodes lease below 10.244.100.0 so the stray
// keys (10.244.200+) never meet a node's subnet by chance.
func TestStrayLeaseRejected(t *testing.T) {
	// A route weft did not install, in each node namespace only.
	foreign := netip.MustParsePrefix("10.244.210.0/24")
	c := strayCluster(t, cluster.Options{
		Nodes:   2,
		NetConf: `{"Network":"10.244.0.0/16","SubnetMax":"10.244.99.0","Backend":{"Type":"vxlan"}}`,
	}, []string{"ip", "route", "add", foreign.String(), "via", "198.18.0.250", "dev", "eth0"})
	cl := etcdClient(t, c)
	pods := addPods(t, c, 1)
	mustReach(t, pods)
	n1, n2 := c.Nodes[0], c.Nodes[1]

	// reject puts one stray key, waits for every node in rejecters to
	// reject it for reason, checks no node in them routes sn, and that
	// pods never lost each other meanwhile.
	reject := func(t *testing.T, suffix, value string, bound bool, reason subnet.Reason, sn netip.Prefix, rejecters ...*cluster.Node) {
		t.Helper()
		if len(rejecters) == 0 {
			rejecters = c.Nodes
		}
		check := watchLoss(t, pods)
		putStray(t, cl, subnetsKey(c, suffix), value, bound)
		keyPart := suffix
		if i := strings.Index(suffix, "&"); i >= 0 {
			keyPart = suffix[i+1:] // the text formatter quotes keys with "&"; match the IPv6 part
		}
		waitRejected(t, rejecters, keyPart, reason)
		if sn.IsValid() {
			notProgrammed(t, rejecters, sn, time.Second)
		}
		check()
		for _, n := range c.Nodes {
			if code, body := readyz(n); code != http.StatusOK {
				t.Errorf("%s not ready after a stray key: %d %s", n.Name, code, body)
			}
		}
	}

	t.Run("outside-network: the issue's underlay key", func(t *testing.T) {
		// Old code: every node installed 198.18.0.0/24 via 198.18.0.0 dev
		// flannel.1 onlink, beating the underlay: 100 % loss, etcd lost.
		reject(t, "198.18.0.0-24", `{"PublicIP":"198.19.0.11","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:11"}}`,
			false, subnet.ReasonOutsideNetwork, netip.MustParsePrefix("198.18.0.0/24"))
		// etcd is still reachable: a new key reaches the nodes.
		putStray(t, cl, subnetsKey(c, "10.99.0.0-24"), strayJSON("198.18.0.71", "02:00:00:00:0b:01", 1), true)
		waitRejected(t, c.Nodes, "10.99.0.0-24", subnet.ReasonOutsideNetwork)
		notProgrammed(t, c.Nodes, netip.MustParsePrefix("10.99.0.0/24"), time.Second)
		mustReach(t, pods)
	})

	t.Run("subnet-length", func(t *testing.T) {
		// Old code: the /25 was programmed (no length check).
		reject(t, "10.244.200.0-25", strayJSON("198.18.0.72", "02:00:00:00:0b:02", 1), true,
			subnet.ReasonSubnetLen, netip.MustParsePrefix("10.244.200.0/25"))
	})

	t.Run("family", func(t *testing.T) {
		// An IPv6-only key (flannel's 0.0.0.0-0 placeholder) in an
		// IPv4-only network. Old code: no rejection, no metric; the
		// placeholder was not known to mean "no IPv4".
		reject(t, "0.0.0.0-0&fd00:10:244:c9::-64",
			`{"PublicIP":"198.18.0.73","PublicIPv6":"2001:db8:18::49","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"02:00:00:00:0b:03"}}`,
			true, subnet.ReasonFamily, netip.Prefix{})
		for _, n := range c.Nodes {
			if out, _ := n.Exec("ip", "-4", "route", "show", "default"); strings.Contains(out, "flannel") {
				t.Errorf("%s: default route over the overlay: %s", n.Name, out)
			}
			if out, _ := n.Exec("ip", "-6", "route", "show", "fd00:10:244:c9::/64"); strings.Contains(out, "flannel") {
				t.Errorf("%s: IPv6 route programmed: %s", n.Name, out)
			}
		}
	})

	t.Run("backend-type", func(t *testing.T) {
		// Old code skipped it too (plan refused a non-vxlan type) but did
		// not count or name it.
		reject(t, "10.244.202.0-24",
			`{"PublicIP":"198.18.0.74","PublicIPv6":null,"BackendType":"host-gw","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:0b:04"}}`,
			true, subnet.ReasonBackendType, netip.MustParsePrefix("10.244.202.0/24"))
	})

	t.Run("backend-data", func(t *testing.T) {
		// Old code skipped it too (no VtepMAC) but did not count it.
		reject(t, "10.244.203.0-24",
			`{"PublicIP":"198.18.0.75","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1}}`,
			true, subnet.ReasonBackendData, netip.MustParsePrefix("10.244.203.0/24"))
	})

	t.Run("vni", func(t *testing.T) {
		// Old code: programmed (the VNI was never compared).
		reject(t, "10.244.204.0-24", strayJSON("198.18.0.76", "02:00:00:00:0b:06", 7), true,
			subnet.ReasonVNI, netip.MustParsePrefix("10.244.204.0/24"))
	})

	t.Run("duplicate", func(t *testing.T) {
		// Two keys with one IPv4 subnet: the older wins on every node.
		// Old code: both were planned for the same subnet, the later
		// replacing the neighbour and FDB entries.
		sn := netip.MustParsePrefix("10.244.205.0/24")
		const winner, loser = "02:00:00:00:0b:71", "02:00:00:00:0b:72"
		putStray(t, cl, subnetsKey(c, "10.244.205.0-24"), strayJSON("198.18.0.77", winner, 1), true)
		for _, n := range c.Nodes {
			waitFor(t, 30*time.Second, n.Name+" programs the older key", func() (bool, string) {
				return routesTo(n, sn) && neighMAC(n, sn.Addr()) == winner, overlayState(n)
			})
		}
		reject(t, "10.244.205.0-24&fd00:10:244:cd::-64", strayJSON("198.18.0.78", loser, 1), true,
			subnet.ReasonDuplicate, netip.Prefix{})
		for _, n := range c.Nodes {
			if got := neighMAC(n, sn.Addr()); got != winner {
				t.Errorf("%s: neighbour %s -> %s, want the older key's %s", n.Name, sn.Addr(), got, winner)
			}
			if fdbHasMAC(n, loser) {
				t.Errorf("%s: FDB holds the duplicate's MAC %s", n.Name, loser)
			}
		}
	})

	t.Run("own-address", func(t *testing.T) {
		// Another subnet carrying node1's PublicIP (a leftover of weftctl
		// reserve): node1 would have programmed a peer pointing at itself.
		// Stage 2 is local: node2 may take it as an ordinary peer.
		sn := netip.MustParsePrefix("10.244.206.0/24")
		reject(t, "10.244.206.0-24", strayJSON(n1.IP.String(), "02:00:00:00:0b:08", 1), true,
			subnet.ReasonOwnAddress, sn, n1)
		t.Logf("node2 routes %s (a peer at node1's address, its own business): %v", sn, routesTo(n2, sn))
	})

	t.Run("overlaps-route", func(t *testing.T) {
		// 10.244.210.0/24 via 198.18.0.250 is in both node namespaces.
		// Old code: replaced by a route over flannel.1.
		reject(t, "10.244.210.0-24", strayJSON("198.18.0.79", "02:00:00:00:0b:09", 1), true,
			subnet.ReasonRoute, foreign)
		for _, n := range c.Nodes {
			if out, _ := n.Exec("ip", "route", "show", foreign.String()); !strings.Contains(out, "via 198.18.0.250") {
				t.Errorf("%s: the foreign route is gone: %q", n.Name, out)
			}
		}
	})

	t.Run("overlapping /25 inside a live node's /24", func(t *testing.T) {
		// Old code: node2 routed half of node1's pods to the stranger
		// (78 % loss), the gateway neighbour flapped between two MACs and
		// node1 looped on "replace route ...: invalid argument".
		owner := n1
		sn := subnetOf(t, owner)
		ownerMAC := vtepMAC(t, owner)
		half := netip.PrefixFrom(sn.Addr(), 25)
		invalid := logLines(owner, "invalid argument")
		if got := neighMAC(n2, sn.Addr()); got != ownerMAC {
			t.Fatalf("node2: neighbour %s -> %q before the stray key, want %s", sn.Addr(), got, ownerMAC)
		}
		check := watchLoss(t, pods)
		suffix := fmt.Sprintf("%s-25", sn.Addr())
		putStray(t, cl, subnetsKey(c, suffix), strayJSON("198.18.0.80", "02:00:00:00:0b:0a", 1), true)
		waitRejected(t, c.Nodes, suffix, subnet.ReasonSubnetLen)
		// Over ~5 s: node2's neighbour for the owner's gateway keeps the
		// owner's MAC, nobody routes the /25, pods keep answering.
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			if got := neighMAC(n2, sn.Addr()); got != ownerMAC {
				t.Fatalf("node2: neighbour %s flapped to %q, want the owner's %s", sn.Addr(), got, ownerMAC)
			}
		}
		notProgrammed(t, c.Nodes, half, 0)
		check()
		for _, p := range owner.Pods() {
			if _, err := cluster.Ping(pods[1].NS, p.IP, 5, time.Second); err != nil {
				t.Errorf("owner's pod %s: %v", p, err)
			}
		}
		if n := logLines(owner, "invalid argument") - invalid; n > 0 {
			t.Errorf("owner logged %d new \"invalid argument\" lines (a reconcile error loop)", n)
		}
	})
}

// The underlay rules of stage 2, isolated by a network that contains the
// underlay: Network 198.18.0.0/16 with SubnetLen 28 and SubnetMin above the
// node range, so the keys below pass stage 1 (inside Network, a /28) and only
// stage 2 stops them. Old code: both keys were programmed, capturing the
// nodes' own underlay traffic or their etcd connection into the tunnel.
func TestStrayLeaseCoversUnderlay(t *testing.T) {
	c := strayCluster(t, cluster.Options{
		Nodes:   2,
		NetConf: `{"Network":"198.18.0.0/16","SubnetLen":28,"SubnetMin":"198.18.10.0","Backend":{"Type":"vxlan"}}`,
	})
	cl := etcdClient(t, c)
	pods := addPods(t, c, 1)
	mustReach(t, pods)
	cases := []struct {
		name, suffix string
		reason       subnet.Reason
	}{
		// 198.18.0.0/28 holds node1 and node2 (198.18.0.1, .2).
		{"covers-node-address", "198.18.0.0-28", subnet.ReasonNodeAddress},
		// 198.18.0.240/28 holds etcd (198.18.0.254) and no node.
		{"covers-etcd-endpoint", "198.18.0.240-28", subnet.ReasonEtcdEndpoint},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check := watchLoss(t, pods)
			putStray(t, cl, subnetsKey(c, tc.suffix), strayJSON(fmt.Sprintf("198.18.0.%d", 90+i), fmt.Sprintf("02:00:00:00:0c:%02x", i), 1), true)
			waitRejected(t, c.Nodes, tc.suffix, tc.reason)
			sn, _, err := subnet.ParseSubnetKey(tc.suffix)
			if err != nil {
				t.Fatal(err)
			}
			notProgrammed(t, c.Nodes, sn, time.Second)
			check()
			mustReach(t, pods)
			for _, n := range c.Nodes {
				if code, body := readyz(n); code != http.StatusOK {
					t.Errorf("%s not ready: %d %s", n.Name, code, body)
				}
			}
		})
	}
}

// putIgnoreLease rewrites key in place, keeping it bound to whatever etcd
// lease holds it (etcdctl put --ignore-lease), and returns the revision.
func putIgnoreLease(t *testing.T, cl *clientv3.Client, key, value string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := cl.Put(ctx, key, value, clientv3.WithIgnoreLease())
	if err != nil {
		t.Fatal(err)
	}
	return r.Header.Revision
}

func putPlain(t *testing.T, cl *clientv3.Client, key, value string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := cl.Put(ctx, key, value)
	if err != nil {
		t.Fatal(err)
	}
	return r.Header.Revision
}

// A node's own key: a foreign value written into it while it stays bound
// to the node's etcd lease is written back; a reservation of our PublicIP
// put by hand is adopted; a key fought over stops the defence. On the code
// before 2f8fafa the owner never rewrote its key (peers re-pointed its
// subnet indefinitely) and stayed ready: every subtest fails there.
//
// Nodes 1-3 run weftd; node4's namespace hosts the second weftd of the
// last subtest.
func TestOwnLeaseDefended(t *testing.T) {
	c := newCluster(t, cluster.Options{Nodes: 4, NoWeftd: true})
	nodes := c.Nodes[:3]
	for _, n := range nodes {
		if err := n.StartWeftd(); err != nil {
			t.Fatal(err)
		}
	}
	var pods []*cluster.Pod
	for _, n := range nodes {
		if err := n.WaitReady(context.Background()); err != nil {
			t.Fatal(err)
		}
		pods = append(pods, addPod(t, n, "p1"))
	}
	mustReach(t, pods)
	cl := etcdClient(t, c)
	n1, n2, n3, n4 := c.Nodes[0], c.Nodes[1], c.Nodes[2], c.Nodes[3]

	t.Run("foreign overwrite of a bound key is written back", func(t *testing.T) {
		sn := subnetOf(t, n1)
		key := nodeKey(c, sn)
		orig, lid, _, ok := getKV(t, cl, key)
		if !ok || lid == 0 {
			t.Fatalf("node1's key %s: present %v, etcd lease %x", key, ok, lid)
		}
		mac := vtepMAC(t, n1)
		const foreignMAC = "02:00:00:00:0d:01"
		before, _ := metricValue(n1, "weft_lease_defended_total")
		putIgnoreLease(t, cl, key, strayJSON("198.18.0.91", foreignMAC, 1))
		waitFor(t, 20*time.Second, "node1 writes its value back", func() (bool, string) {
			v, l, _, _ := getKV(t, cl, key)
			return v == orig && l == lid, fmt.Sprintf("%s (lease %x)", v, l)
		})
		for _, n := range []*cluster.Node{n2, n3} {
			waitFor(t, 20*time.Second, n.Name+" points node1's subnet at node1 again", func() (bool, string) {
				return neighMAC(n, sn.Addr()) == mac && fdbHas(n, mac, n1.IP) && !fdbHasMAC(n, foreignMAC), overlayState(n)
			})
		}
		if v := mustMetric(t, n1, "weft_lease_defended_total"); v < before+1 {
			t.Errorf("weft_lease_defended_total %v, want >= %v", v, before+1)
		}
		if logLines(n1, "our lease key was rewritten by someone else; wrote our value back", "198.18.0.91") == 0 {
			t.Error("node1 did not warn about the rewrite naming what it found")
		}
		waitFor(t, 20*time.Second, "node1 ready", func() (bool, string) {
			code, body := readyz(n1)
			return code == http.StatusOK, body
		})
		mustReach(t, pods)
	})

	t.Run("reservation of our PublicIP put by hand is adopted", func(t *testing.T) {
		sn := subnetOf(t, n1)
		key := nodeKey(c, sn)
		orig, _, _, _ := getKV(t, cl, key)
		mac := vtepMAC(t, n1)
		// adopted: the key stays lease-less, holds our value, node1 stays
		// ready and nobody writes the key again (no fight) over ~5 s.
		adopted := func(t *testing.T) {
			t.Helper()
			waitFor(t, 20*time.Second, "node1 adopts the reservation", func() (bool, string) {
				v, l, _, _ := getKV(t, cl, key)
				return l == 0 && v == orig, fmt.Sprintf("%s (lease %x)", v, l)
			})
			_, _, rev, _ := getKV(t, cl, key)
			for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
				v, l, r, ok := getKV(t, cl, key)
				if !ok || l != 0 || r != rev || !strings.Contains(v, mac) {
					t.Fatalf("reservation fought over: %s (lease %x, revision %d, was %d)", v, l, r, rev)
				}
				if code, body := readyz(n1); code != http.StatusOK {
					t.Fatalf("node1 not ready with an adopted reservation: %s", body)
				}
			}
			mustReach(t, pods)
		}
		t.Run("our value", func(t *testing.T) {
			putPlain(t, cl, key, orig)
			adopted(t)
		})
		t.Run("changed BackendData", func(t *testing.T) {
			putPlain(t, cl, key, strings.Replace(orig, mac, "02:00:00:00:0d:02", 1))
			adopted(t)
			if logLines(n1, "our lease key was made a reservation with another value; adopted it") == 0 {
				t.Error("node1 did not warn that the reservation had another value")
			}
		})
		if logLines(n1, "fought over") > 0 {
			t.Error("node1 took a reservation for a fight")
		}
	})

	t.Run("three foreign rewrites stop the defence", func(t *testing.T) {
		sn := subnetOf(t, n2)
		key := nodeKey(c, sn)
		orig, lid, _, _ := getKV(t, cl, key)
		var rev int64
		var foreignMAC string
		for i := 1; i <= 3; i++ {
			foreignMAC = fmt.Sprintf("02:00:00:00:0e:%02x", i)
			rev = putIgnoreLease(t, cl, key, strayJSON(fmt.Sprintf("198.18.0.%d", 100+i), foreignMAC, 1))
			if i < 3 {
				waitFor(t, 20*time.Second, fmt.Sprintf("node2 writes back rewrite %d", i), func() (bool, string) {
					v, l, _, _ := getKV(t, cl, key)
					return v == orig && l == lid, v
				})
			}
		}
		waitFor(t, 20*time.Second, "node2 not ready naming the foreign VtepMAC and revision", func() (bool, string) {
			code, body := readyz(n2)
			return code == http.StatusServiceUnavailable && strings.Contains(body, "lease: foreign: ") &&
				strings.Contains(body, foreignMAC) && strings.Contains(body, strconv.FormatInt(rev, 10)), fmt.Sprintf("%d %s", code, body)
		})
		if v := mustMetric(t, n2, "weft_ready"); v != 0 {
			t.Errorf("weft_ready %v while /readyz fails", v)
		}
		if logLines(n2, "fought over; stopped defending") == 0 {
			t.Error("node2 did not log that it stopped defending")
		}
		// Peers follow etcd (to the foreign value); nobody flaps: the key
		// is not written again and no node's overlay entries change.
		for _, n := range []*cluster.Node{n1, n3} {
			waitFor(t, 20*time.Second, n.Name+" follows etcd", func() (bool, string) {
				return neighMAC(n, sn.Addr()) == foreignMAC, overlayState(n)
			})
		}
		stable(t, nodes, 5*time.Second)
		if _, _, r, _ := getKV(t, cl, key); r != rev {
			t.Errorf("node2's key written again after the defence stopped (revision %d, was %d)", r, rev)
		}
		if code, _ := readyz(n2); code != http.StatusServiceUnavailable {
			t.Errorf("node2 ready again while its key holds a foreign value")
		}
	})

	t.Run("second weftd with our PublicIP", func(t *testing.T) {
		// node4 runs weftd with --public-ip of node3 and a flannel.1 made
		// beforehand with another MAC.
		sn := subnetOf(t, n3)
		key := nodeKey(c, sn)
		orig, lid, _, _ := getKV(t, cl, key)
		mac3 := vtepMAC(t, n3)
		const mac4 = "02:00:00:00:0f:04"
		for _, args := range [][]string{
			{"ip", "link", "add", "flannel.1", "type", "vxlan", "id", "1", "local", n4.IP.String(), "dev", "eth0", "dstport", "8472", "nolearning"},
			{"ip", "link", "set", "flannel.1", "address", mac4, "up"},
		} {
			if _, err := n4.Exec(args...); err != nil {
				t.Fatal(err)
			}
		}
		if err := n4.StartWeftd("--public-ip", n3.IP.String()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = n4.StopWeftd(syscall.SIGTERM, 30*time.Second) })
		// node4 finds node3's key by its PublicIP, renews node3's etcd lease
		// and writes its own VtepMAC into the key; node3 sees another
		// VtepMAC under its PublicIP: a conflict, not a rewrite to fight.
		waitFor(t, 30*time.Second, "node3 not ready naming node4's VtepMAC", func() (bool, string) {
			code, body := readyz(n3)
			return code == http.StatusServiceUnavailable && strings.Contains(body, "lease: foreign: ") &&
				strings.Contains(body, mac4), fmt.Sprintf("%d %s", code, body)
		})
		if logLines(n3, "fought over; stopped defending", mac4) == 0 {
			t.Error("node3 did not log the conflict naming node4's VtepMAC")
		}
		_, _, rev, _ := getKV(t, cl, key)
		stable(t, []*cluster.Node{n1, n3, n4}, 5*time.Second)
		v, l, r, _ := getKV(t, cl, key)
		if r != rev {
			t.Errorf("the key is still being written (revision %d, was %d): %s", r, rev, v)
		}
		t.Logf("node3's key after the conflict: %s (etcd lease %x, node3's %x; node3 wrote %s)", v, l, lid, orig)
		// FAILS on 2f8fafa, deliberately not skipped (daemon gap reported to
		// the lead): node4 stays ready and logs only "lease acquired
		// how=reused" with node3's etcd lease ID.
		// The other side reports it too (issue 11: "both report it"): node4
		// took over a key bound to another node's live etcd lease, holding
		// another VtepMAC under the same PublicIP.
		c4, b4 := readyz(n4)
		reported := c4 != http.StatusOK || logLines(n4, "level=warning", mac3) > 0 || logLines(n4, "level=error", mac3) > 0
		if !reported {
			t.Errorf("node4 (second weftd with node3's PublicIP) reports nothing: /readyz %d %q, no warning naming node3's VtepMAC %s; its log:\n%s",
				c4, b4, mac3, tailLog(n4, 15))
		}
	})
}

// tailLog returns the last n lines of the node's weftd log.
func tailLog(nd *cluster.Node, n int) string {
	b, _ := os.ReadFile(nd.LogFile())
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// A 90 s outage of the whole etcd (killed, restarted with its data) with a
// 30 s TTL: no lease expires or is re-claimed after etcd returns, pods keep
// talking through it and after. On the code before 2f8fafa the client's
// gRPC backoff brought weftd back 13-40 s after etcd, past the TTL: the
// leases expired and were re-claimed (new etcd lease IDs, reclaims counted).
func TestEtcdOutageKeepsLeases(t *testing.T) {
	c := newCluster(t, cluster.Options{Nodes: 2, WeftdArgs: []string{"--subnet-lease-ttl", "30s"}})
	cl := etcdClient(t, c)
	pods := addPods(t, c, 1)
	mustReach(t, pods)
	type before struct {
		key               string
		leaseID           int64
		reclaims, renewed float64
	}
	was := map[*cluster.Node]before{}
	for _, n := range c.Nodes {
		key := nodeKey(c, subnetOf(t, n))
		_, lid, _, ok := getKV(t, cl, key)
		if !ok || lid == 0 {
			t.Fatalf("%s: key %s present %v, etcd lease %x", n.Name, key, ok, lid)
		}
		was[n] = before{key, lid, mustMetric(t, n, "weft_lease_reclaims_total"), 0}
	}
	for _, m := range c.Etcd {
		m.Kill()
	}
	sawNote := map[*cluster.Node]bool{}
	for end := time.Now().Add(90 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Second) {
		mustReach(t, pods)
		for _, n := range c.Nodes {
			// An unreachable etcd is a note in /readyz, never not-ready.
			code, body := readyz(n)
			if code != http.StatusOK {
				t.Errorf("%s not ready during the etcd outage: %d %s", n.Name, code, body)
			}
			if strings.Contains(body, "etcd: unreachable") {
				sawNote[n] = true
			}
		}
	}
	for _, n := range c.Nodes {
		if !sawNote[n] {
			t.Errorf("%s: /readyz never noted the unreachable etcd", n.Name)
		}
		b := was[n]
		b.renewed = mustMetric(t, n, "weft_lease_renewals_total")
		was[n] = b
	}
	for _, m := range c.Etcd {
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
	}
	back := time.Now()
	for _, n := range c.Nodes {
		waitFor(t, 30*time.Second, n.Name+" renews after etcd returns", func() (bool, string) {
			v, _ := metricValue(n, "weft_lease_renewals_total")
			r, _ := metricValue(n, "weft_etcd_reachable")
			return v > was[n].renewed && r == 1, fmt.Sprintf("renewals %v (was %v), reachable %v", v, was[n].renewed, r)
		})
	}
	// Past a whole TTL after etcd returned, every key is still the one
	// bound to the node's original etcd lease.
	for time.Since(back) < 35*time.Second {
		mustReach(t, pods)
		time.Sleep(5 * time.Second)
	}
	for _, n := range c.Nodes {
		b := was[n]
		_, lid, _, ok := getKV(t, cl, b.key)
		if !ok || lid != b.leaseID {
			t.Errorf("%s: key %s present %v, etcd lease %x, want the original %x", n.Name, b.key, ok, lid, b.leaseID)
		}
		if v := mustMetric(t, n, "weft_lease_reclaims_total"); v != b.reclaims {
			t.Errorf("%s: weft_lease_reclaims_total %v, was %v before the outage", n.Name, v, b.reclaims)
		}
		if code, body := readyz(n); code != http.StatusOK || strings.Contains(body, "etcd:") {
			t.Errorf("%s after the outage: %d %s", n.Name, code, body)
		}
	}
	mustReach(t, pods)
}

// Forwarding turned off at runtime inside a node namespace is turned back
// on within a few seconds, counted, and pods reach each other again. On
// the code before 2f8fafa weftd set it only at start: 100 % cross-node
// loss while /readyz said 200.
func TestForwardingRestored(t *testing.T) {
	c := newCluster(t, cluster.Options{Nodes: 2})
	pods := addPods(t, c, 1)
	mustReach(t, pods)
	n := c.Nodes[0]
	// weftd turns forwarding on at start in a fresh namespace and counts
	// that too: compare with the values before.
	const repairs = `weft_node_repairs_total{what="net.ipv4.ip_forward"}`
	repaired, _ := metricValue(n, repairs)
	warned := logLines(n, "IP forwarding was turned off; turned it back on")
	if _, err := n.Exec("sysctl", "-qw", "net.ipv4.ip_forward=0"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "forwarding back on", func() (bool, string) {
		out, err := n.Exec("cat", "/proc/sys/net/ipv4/ip_forward")
		return err == nil && strings.TrimSpace(out) == "1", out
	})
	if v := mustMetric(t, n, repairs); v < repaired+1 {
		t.Errorf("%s %v, want >= %v", repairs, v, repaired+1)
	}
	if logLines(n, "IP forwarding was turned off; turned it back on") <= warned {
		t.Error("no warning that forwarding was restored")
	}
	waitFor(t, 20*time.Second, "node ready", func() (bool, string) {
		code, body := readyz(n)
		return code == http.StatusOK, body
	})
	mustReach(t, pods)
}

// subnet.env corrupted, then removed: weftd rewrites it within a few
// seconds and a pod ADD succeeds after each. On the code before 2f8fafa a
// corrupted file was never rewritten: every pod ADD failed until a restart.
func TestSubnetFileRewritten(t *testing.T) {
	c := newCluster(t, cluster.Options{Nodes: 2})
	pods := addPods(t, c, 1)
	n := c.Nodes[0]
	want, err := os.ReadFile(n.SubnetFile())
	if err != nil {
		t.Fatal(err)
	}
	for i, damage := range []struct {
		what string
		do   func() error
	}{
		{"corrupted", func() error {
			return os.WriteFile(n.SubnetFile(), []byte("FLANNEL_SUBNET=garbage\n\x00\x01nonsense"), 0o644)
		}},
		{"removed", func() error { return os.Remove(n.SubnetFile()) }},
	} {
		t.Run(damage.what, func(t *testing.T) {
			before := logLines(n, "subnet file was not what weftd wrote; rewrote it")
			if err := damage.do(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 20*time.Second, "subnet.env rewritten", func() (bool, string) {
				got, err := os.ReadFile(n.SubnetFile())
				return err == nil && string(got) == string(want), fmt.Sprintf("%q %v", got, err)
			})
			if logLines(n, "subnet file was not what weftd wrote; rewrote it") <= before {
				t.Error("no warning that the subnet file was rewritten")
			}
			waitFor(t, 20*time.Second, "node ready", func() (bool, string) {
				code, body := readyz(n)
				return code == http.StatusOK, body
			})
			p := addPod(t, n, fmt.Sprintf("after%d", i))
			mustReach(t, append([]*cluster.Pod{p}, pods...))
		})
	}
	if v := mustMetric(t, n, `weft_node_repairs_total{what="subnet-file"}`); v < 2 {
		t.Errorf(`weft_node_repairs_total{what="subnet-file"} %v, want >= 2`, v)
	}
}
