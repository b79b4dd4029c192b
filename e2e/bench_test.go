// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

// The cluster-scale benchmarks (issue 8): a simulated large cluster on one
// machine, with many peer leases written straight into etcd in flannel's
// format and one or two real weftd processes in node namespaces. Each
// benchmark builds its own cluster and treats one call as one run; `make
// bench` runs them with -benchtime 1x -count 3 and records min, median and
// max. They only report: nothing here asserts a duration. They do fail
// when the kernel does not end up matching etcd exactly.

import (
	"context"
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/subnet"
)

// benchNetConf is the large-benchmark network: 32,767 subnets of /24.
const benchNetConf = `{"Network":"10.128.0.0/9","SubnetLen":24,"Backend":{"Type":"vxlan"}}`

var (
	benchNetwork = netip.MustParsePrefix("10.128.0.0/9")
	firstSubnet  = netip.MustParseAddr("10.128.1.0") // the default SubnetMin
	fakePublic   = netip.MustParsePrefix("198.19.0.0/16")
)

// weftdBenchArgs run weftd as an operator would (the fixture's default is
// debug logging, which costs a line per peer).
// The control-plane knobs of Documentation/scale.md are pinned at their
// defaults, so that a change of default shows as a change here, measured.
var weftdBenchArgs = []string{"--log-level", "info", "--etcd-serializable-lists=true", "--start-jitter=0s"}

// newBenchCluster builds a cluster for one benchmark run, with weftd
// logging as in production; see newCluster.
func newBenchCluster(b *testing.B, opts cluster.Options) *cluster.Cluster {
	b.Helper()
	opts.WeftdArgs = append(opts.WeftdArgs, weftdBenchArgs...)
	return newCluster(b, opts)
}

// newLeaseWriter opens a writer of simulated peer leases (TTL 1 h).
func newLeaseWriter(b *testing.B, c *cluster.Cluster) *cluster.LeaseWriter {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := c.NewLeaseWriter(ctx, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = w.Close() })
	return w
}

// peerLease is simulated peer i of benchNetwork (cluster.PeerLease).
func peerLease(i, gen int) subnet.Lease { return cluster.PeerLease(firstSubnet, i, gen) }

func peerLeases(from, to int) []subnet.Lease {
	out := make([]subnet.Lease, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, peerLease(i, 0))
	}
	return out
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 1) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// reportLatencies reports p50, p99 and max of ds in milliseconds as
// <name>-p50-ms and so on.
func reportLatencies(b *testing.B, name string, ds []time.Duration) {
	b.ReportMetric(ms(percentile(ds, 0.50)), name+"-p50-ms")
	b.ReportMetric(ms(percentile(ds, 0.99)), name+"-p99-ms")
	b.ReportMetric(ms(percentile(ds, 1)), name+"-max-ms")
}

// noTimePerOp hides the default ns/op: one run includes building the
// cluster, so the benchmark's own time says nothing.
func noTimePerOp(b *testing.B) { b.ReportMetric(0, "ns/op") }

func benchCtx(b *testing.B, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	b.Cleanup(cancel)
	return ctx
}
