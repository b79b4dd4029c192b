// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

import (
	"testing"
	"time"

	"github.com/weft-net/weft/internal/cluster"
)

// streamFor is how long each TCP stream runs.
const streamFor = 5 * time.Second

// BenchmarkClusterOverlayTCP streams TCP for 5 s from a pod on node 1 to a
// pod on node 2 (bridge, VXLAN, underlay, VXLAN, bridge), and for 5 s
// between the two node namespaces directly over the underlay, and reports
// both and their ratio. On this machine both ends share two cores, so the
// ratio is the overlay's CPU cost per byte as much as anything.
func BenchmarkClusterOverlayTCP(b *testing.B) {
	noTimePerOp(b)
	c := newBenchCluster(b, cluster.Options{Nodes: 2})
	ctx := benchCtx(b, 2*time.Minute)
	src, err := c.Nodes[0].AddPod(ctx, "tx")
	if err != nil {
		b.Fatal(err)
	}
	dst, err := c.Nodes[1].AddPod(ctx, "rx")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := cluster.Ping(src.NS, dst.IP, 30, time.Second); err != nil {
		b.Fatal(err)
	}
	under, err := cluster.TCPStream(ctx, c.Nodes[0].NS, c.Nodes[1].NS, c.Nodes[1].IP, 5201, streamFor)
	if err != nil {
		b.Fatal(err)
	}
	over, err := cluster.TCPStream(ctx, src.NS, dst.NS, dst.IP, 5201, streamFor)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(over*8/1e6, "overlay-Mbit/s")
	b.ReportMetric(under*8/1e6, "underlay-Mbit/s")
	b.ReportMetric(over/under, "overlay/underlay")
}
