// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package etcd_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/etcd"
	"github.com/weft-net/weft/subnet/etcd/etcdtest"
	"github.com/weft-net/weft/subnet/subnettest"
)

// benchConfig is the large-benchmark network: 32,767 subnets.
const benchConfig = `{"Network":"10.128.0.0/9","SubnetLen":24,"Backend":{"Type":"vxlan"}}`

// benchAttrs is node i's lease value, with a fake peer address in 198.19.0.0/16.
func benchAttrs(i int) subnet.LeaseAttrs {
	ip := fmt.Sprintf("198.19.%d.%d", i/250, i%250+1)
	return subnettest.TestLease("10.0.0.0/24", ip).Attrs
}

// BenchmarkListLeases5000 lists and decodes 5,000 leases in one range
// request, what weftd does at start and on every resync.
func BenchmarkListLeases5000(b *testing.B) {
	const n = 5000
	srv := etcdtest.Start(b)
	c := srv.Client(b)
	r := etcd.New(c, "/bench", nullLog())
	cfg := mustConfig(b, benchConfig)
	ctx := context.Background()
	g, err := c.Grant(ctx, 3600)
	if err != nil {
		b.Fatal(err)
	}
	// Fill in transactions of 100 puts (etcd allows 128 operations per txn).
	for start := 0; start < n; start += 100 {
		ops := make([]clientv3.Op, 0, 100)
		for i := start; i < start+100; i++ {
			l := subnet.Lease{Subnet: subnet.NthSubnet(cfg.SubnetMin, 24, uint64(i)), Attrs: benchAttrs(i)}
			val, _ := l.Attrs.MarshalJSON()
			ops = append(ops, clientv3.OpPut(r.LeaseKey(l), string(val), clientv3.WithLease(g.ID)))
		}
		if _, err := c.Txn(ctx).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		ls, _, err := r.ListLeases(ctx)
		if err != nil || len(ls) != n {
			b.Fatalf("ListLeases = %d leases, %v", len(ls), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/lease")
}

// BenchmarkAcquire1000Concurrent starts 1,000 nodes at once, each with its
// own Manager over one of 8 shared clients, against one etcd, in a /9 of
// /24s. One op is all 1,000 acquisitions; conflicts are the create
// transactions that lost a race and were retried on a fresh list.
func BenchmarkAcquire1000Concurrent(b *testing.B) {
	const nodes, nClients = 1000, 8
	srv := etcdtest.Start(b)
	clients := make([]*clientv3.Client, nClients)
	for i := range clients {
		clients[i] = srv.Client(b)
	}
	cfg := mustConfig(b, benchConfig)
	var total benchStats
	iter := 0
	for b.Loop() {
		prefix := fmt.Sprintf("/bench/%d", iter)
		iter++
		s := acquireAll(b, clients, prefix, cfg, nodes)
		total.conflicts += s.conflicts
		total.attempts += s.attempts
		total.maxConflicts = max(total.maxConflicts, s.maxConflicts)
	}
	conflicts, attempts := total.conflicts, total.attempts
	b.ReportMetric(float64(conflicts)/float64(b.N), "conflicts/op")
	b.ReportMetric(float64(attempts)/float64(b.N), "creates/op")
	b.ReportMetric(float64(total.maxConflicts), "max-conflicts/node")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/nodes/1e6, "ms/acquisition")
}

type benchStats struct{ conflicts, attempts, maxConflicts uint64 }

func acquireAll(b *testing.B, clients []*clientv3.Client, prefix string, cfg *subnet.Config, nodes int) benchStats {
	managers := make([]*subnet.Manager, nodes)
	for i := range managers {
		managers[i] = subnet.NewManager(etcd.New(clients[i%len(clients)], prefix, nullLog()), subnet.ManagerOptions{})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, nodes)
	for i, m := range managers {
		wg.Go(func() {
			if _, err := m.Acquire(ctx, cfg, subnet.AcquireRequest{Attrs: benchAttrs(i)}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("Acquire: %v", err)
	}
	var out benchStats
	for _, m := range managers {
		s := m.Stats()
		out.conflicts += s.Conflicts
		out.attempts += s.Attempts
		out.maxConflicts = max(out.maxConflicts, s.Conflicts)
	}
	return out
}
