// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/cluster"
)

const benchPods = 100

// BenchmarkClusterPodSetup runs CNI ADD for 100 pods one after another on
// a node whose weftd is running, through libcni with the dist conflist (weft
// delegating to bridge + host-local, then portmap), then CNI DEL for each.
// Only the libcni calls are timed, not making the pods' namespaces. A
// warm-up pod, which creates the node's bridge, is not counted.
func BenchmarkClusterPodSetup(b *testing.B) {
	noTimePerOp(b)
	c := newBenchCluster(b, cluster.Options{Nodes: 1, WeftdArgs: []string{"--ip-masq"}})
	n := c.Nodes[0]
	ctx := benchCtx(b, 5*time.Minute)
	if _, err := n.AddPod(ctx, "warm"); err != nil {
		b.Fatal(err)
	}
	list, err := n.CNIConfList()
	if err != nil {
		b.Fatal(err)
	}
	pods := make([]*cluster.Pod, benchPods)
	for i := range pods {
		if pods[i], err = n.NewPodNS(fmt.Sprintf("p%d", i)); err != nil {
			b.Fatal(err)
		}
	}
	var adds, dels []time.Duration
	var addTotal, delTotal time.Duration
	for _, p := range pods {
		d, err := p.AddTimed(ctx, list)
		if err != nil {
			b.Fatal(err)
		}
		adds, addTotal = append(adds, d), addTotal+d
	}
	for _, p := range pods {
		d, err := p.DelTimed(ctx, list)
		if err != nil {
			b.Fatal(err)
		}
		dels, delTotal = append(dels, d), delTotal+d
	}
	b.ReportMetric(ms(percentile(adds, 0.5)), "add-p50-ms")
	b.ReportMetric(ms(percentile(adds, 0.99)), "add-p99-ms")
	b.ReportMetric(benchPods/addTotal.Seconds(), "adds/s")
	b.ReportMetric(ms(percentile(dels, 0.5)), "del-p50-ms")
	b.ReportMetric(ms(percentile(dels, 0.99)), "del-p99-ms")
	b.ReportMetric(benchPods/delTotal.Seconds(), "dels/s")
}
