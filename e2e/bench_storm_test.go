// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

import (
	"context"
	"io"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/etcd"
)

const stormNodes = 200

// BenchmarkClusterStartStorm starts 200 lease acquisitions at once, as
// 200 weftd processes starting together would: each has its own etcd
// client and subnet.Manager, against the cluster's etcd (a process in its
// own namespace, reached over the underlay). It measures the time until
// all hold distinct subnets and the create transactions lost to a race
// (conflicts, retried on a fresh list).
func BenchmarkClusterStartStorm(b *testing.B) {
	noTimePerOp(b)
	c := newBenchCluster(b, cluster.Options{Nodes: 1, NetConf: benchNetConf, NoWeftd: true})
	cfg, err := subnet.ParseConfig([]byte(benchNetConf))
	if err != nil {
		b.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	managers := make([]*subnet.Manager, stormNodes)
	for i := range managers {
		cl, err := c.Client()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cl.Close() })
		warmUp(b, cl)
		managers[i] = subnet.NewManager(etcd.New(cl, c.Prefix(), log), subnet.ManagerOptions{})
	}
	ctx := benchCtx(b, 5*time.Minute)
	got := make([]netip.Prefix, stormNodes)
	errs := make([]error, stormNodes)
	var wg sync.WaitGroup
	start := time.Now()
	for i, m := range managers {
		wg.Go(func() {
			l, err := m.Acquire(ctx, cfg, subnet.AcquireRequest{Attrs: peerLease(i, 0).Attrs})
			got[i], errs[i] = l.Subnet, err
		})
	}
	wg.Wait()
	took := time.Since(start)
	seen := map[netip.Prefix]int{}
	for i, err := range errs {
		if err != nil {
			b.Fatalf("node %d: Acquire: %v", i, err)
		}
		if j, dup := seen[got[i]]; dup {
			b.Fatalf("nodes %d and %d both hold %s", j, i, got[i])
		}
		seen[got[i]] = i
	}
	var conflicts, attempts, most uint64
	for _, m := range managers {
		s := m.Stats()
		conflicts += s.Conflicts
		attempts += s.Attempts
		most = max(most, s.Conflicts)
	}
	b.ReportMetric(ms(took), "all-acquired-ms")
	b.ReportMetric(float64(conflicts), "conflicts")
	b.ReportMetric(float64(attempts), "creates")
	b.ReportMetric(float64(most), "max-conflicts/node")
}

// warmUp makes the client connect before the storm, as a started weftd
// would be connected before it acquires.
func warmUp(b *testing.B, cl *clientv3.Client) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cl.Get(ctx, "/weft-cluster-probe"); err != nil {
		b.Fatalf("etcd client: %v", err)
	}
}
