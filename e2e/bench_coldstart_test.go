// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/internal/nstest"
	"github.com/weft-net/weft/subnet"
)

// BenchmarkClusterColdStart starts weftd on a node whose etcd already holds
// N peer leases, and measures the time from starting the process until the
// node's kernel holds all N routes, neighbour and FDB entries, weftd's CPU
// time until then and its peak RSS. In the same run it measures the floor:
// the same 3N entries written by `bridge -batch` and `ip -batch` into a
// fresh namespace with an equivalent flannel.1 device, once with today's
// metric-0 routes (floor-s) and once with a metric per peer
// (floor-metric-s, the form of issue 17). All namespaces carry the
// benchmark's netlink listener. N = 10,000 runs only with
// WEFT_BENCH_LARGE=1 (`make bench` sets it), in Network 10.0.0.0/8.
func BenchmarkClusterColdStart(b *testing.B) {
	for _, n := range []int{100, 1000, 5000, 10000} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			if n > 5000 && os.Getenv("WEFT_BENCH_LARGE") != "1" {
				b.Skipf("%d peers: set WEFT_BENCH_LARGE=1 (make bench does) to run sizes above 5,000", n)
			}
			coldStart(b, n)
		})
	}
}

// coldStartNetConf is the network of a cold start with n peers: issue 17
// asks for Network 10.0.0.0/8 (65,536 subnets of /24) above 5,000 peers.
// The peers are the same leases at every size (peerLease: 10.128.1.0/24
// on), which lie in both networks; only weftd's own lease, drawn from
// Network, differs.
func coldStartNetConf(n int) string {
	if n > 5000 {
		return `{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"vxlan"}}`
	}
	return benchNetConf
}

func coldStart(b *testing.B, n int) {
	noTimePerOp(b)
	c := newBenchCluster(b, cluster.Options{Nodes: 1, NetConf: coldStartNetConf(n), NoWeftd: true})
	ctx := benchCtx(b, 5*time.Minute)
	peers := peerLeases(0, n)
	w := newLeaseWriter(b, c)
	if err := w.PutAll(ctx, peers); err != nil {
		b.Fatal(err)
	}
	node := c.Nodes[0]
	k := openKernel(b, node.NS)
	tr := k.track(b)

	start := time.Now()
	if err := node.StartWeftd(); err != nil {
		b.Fatal(err)
	}
	done, err := tr.waitCount(benchCtx(b, 2*time.Minute), n)
	if err != nil {
		// Notifications were lost (the subscription overran): poll instead.
		b.Logf("netlink notifications lost (%v); polling the kernel instead", err)
		done = k.waitTables(b, wantTables(b, peers), 2*time.Minute)
	}
	atDone, err := node.WeftdStats()
	if err != nil {
		b.Fatal(err)
	}
	if got, err := k.tables(); err != nil || !got.equal(wantTables(b, peers)) {
		b.Fatalf("kernel after cold start: %v %s", err, diffSummary(got, wantTables(b, peers)))
	}
	if err := node.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	settled, err := node.WeftdStats()
	if err != nil {
		b.Fatal(err)
	}
	floor := ipBatchFloor(b, peers, false)
	floorMetric := ipBatchFloor(b, peers, true)

	took := done.Sub(start)
	b.ReportMetric(took.Seconds(), "weft-s")
	b.ReportMetric(floor.Seconds(), "floor-s")
	b.ReportMetric(took.Seconds()/floor.Seconds(), "weft/floor")
	b.ReportMetric(floorMetric.Seconds(), "floor-metric-s")
	b.ReportMetric(took.Seconds()/floorMetric.Seconds(), "weft/floor-metric")
	if first := tr.firstChange(); !first.IsZero() {
		// Start-up before the first entry: exec, etcd, device, lease, list.
		b.ReportMetric(first.Sub(start).Seconds(), "first-entry-s")
	}
	b.ReportMetric(atDone.CPU.Seconds(), "cpu-s")
	b.ReportMetric(float64(max(atDone.PeakRSS, settled.PeakRSS))/(1<<20), "peak-rss-MiB")
}

// ipBatchFloor writes the entries for peers with iproute2's batch mode into
// a fresh namespace holding an equivalent flannel.1 device, FDB entries
// first, then each neighbour before its route (weft's order), and returns
// how long the two commands took. With metric, each route carries its own
// metric, the subnet's IPv4 address as a 32-bit number; without, metric 0
// as flanneld's (and weft's before issue 17).
func ipBatchFloor(b *testing.B, peers []subnet.Lease, metric bool) time.Duration {
	b.Helper()
	ns := nstest.New(b)
	// Deleted before the namespace, so that the kernel frees the entries
	// now rather than in the background during the next run.
	b.Cleanup(func() { _, _ = ns.Run("ip", "link", "del", "flannel.1") })
	for _, args := range [][]string{
		{"ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"},
		{"ip", "addr", "add", "198.18.0.1/24", "dev", "eth0"},
		{"ip", "link", "set", "eth0", "up"},
		{"ip", "link", "add", "flannel.1", "type", "vxlan", "id", "1", "local", "198.18.0.1",
			"dev", "eth0", "dstport", "8472", "nolearning"},
		{"ip", "addr", "add", "10.128.0.0/32", "dev", "flannel.1"},
		{"ip", "link", "set", "flannel.1", "up"},
	} {
		ns.MustRun(b, args...)
	}
	var ipb, brb strings.Builder
	for _, p := range peers {
		d, err := subnet.DecodeVXLANData(p.Attrs.BackendData)
		if err != nil {
			b.Fatal(err)
		}
		a := p.Subnet.Addr()
		fmt.Fprintf(&brb, "fdb replace %s dev flannel.1 dst %s self permanent\n", d.VtepMAC, p.Attrs.PublicIP)
		fmt.Fprintf(&ipb, "neigh replace %s lladdr %s dev flannel.1 nud permanent\n", a, d.VtepMAC)
		fmt.Fprintf(&ipb, "route replace %s via %s dev flannel.1 onlink proto 87", p.Subnet, a)
		if metric {
			a4 := a.As4()
			fmt.Fprintf(&ipb, " metric %d", binary.BigEndian.Uint32(a4[:]))
		}
		ipb.WriteByte('\n')
	}
	dir := b.TempDir()
	ipFile, brFile := filepath.Join(dir, "ip.batch"), filepath.Join(dir, "bridge.batch")
	if err := os.WriteFile(ipFile, []byte(ipb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(brFile, []byte(brb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	// The same observer as on the weft node, so both pay for one netlink
	// listener (the kernel builds a notification per entry for it).
	openKernel(b, ns.Name).track(b)
	start := time.Now()
	for _, args := range [][]string{{"bridge", "-n", ns.Name, "-batch", brFile}, {"ip", "-n", ns.Name, "-batch", ipFile}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return time.Since(start)
}
