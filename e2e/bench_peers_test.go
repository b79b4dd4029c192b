// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/subnet"
)

const (
	programmedPeers = 1000 // peers a node holds while others join and leave
	joiners         = 200  // peers added one by one, then removed one by one
	churnEvents     = 1000
	churnWriters    = 8 // concurrent etcd writers during churn
)

// peersEnv is one node running weftd with programmedPeers peers in its
// kernel, and a tracker on its namespace.
type peersEnv struct {
	c  *cluster.Cluster
	w  *cluster.LeaseWriter
	k  *kernelView
	tr *tracker
	// gen is each subnet's VTEP MAC generation, bumped on every re-join.
	gen map[int]int
}

func newPeersEnv(b *testing.B) *peersEnv {
	b.Helper()
	c := newBenchCluster(b, cluster.Options{Nodes: 1, NetConf: benchNetConf, NoWeftd: true})
	ctx := benchCtx(b, 2*time.Minute)
	w := newLeaseWriter(b, c)
	base := peerLeases(0, programmedPeers)
	if err := w.PutAll(ctx, base); err != nil {
		b.Fatal(err)
	}
	node := c.Nodes[0]
	if err := node.StartWeftd(); err != nil {
		b.Fatal(err)
	}
	if err := node.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	k := openKernel(b, node.NS)
	tr := k.track(b)
	k.waitTables(b, wantTables(b, base), time.Minute)
	got, err := k.tables()
	if err != nil {
		b.Fatal(err)
	}
	tr.seed(got)
	return &peersEnv{c: c, w: w, k: k, tr: tr, gen: map[int]int{}}
}

// BenchmarkClusterPeerChanges measures, on a node with 1,000 peers
// programmed, how fast other nodes' joins and departures reach its kernel.
//
// join-leave: 200 leases are added one at a time, then removed one at a
// time; each latency runs from the etcd write returning to the netlink
// notification of the last of the peer's three entries (route, neighbour,
// FDB) appearing, or disappearing.
//
// churn: 1,000 joins and departures (re-joins with a new VTEP MAC among
// them) are written as fast as etcd takes them, by 8 concurrent writers;
// converge-ms is the time from the last write returning until the kernel
// matches etcd exactly. The benchmark fails if it never does.
func BenchmarkClusterPeerChanges(b *testing.B) {
	noTimePerOp(b)
	env := newPeersEnv(b)
	b.Run("join-leave", func(b *testing.B) { joinLeave(b, env) })
	b.Run("churn", func(b *testing.B) { churn(b, env) })
}

func joinLeave(b *testing.B, env *peersEnv) {
	noTimePerOp(b)
	ctx := benchCtx(b, 5*time.Minute)
	added := peerLeases(programmedPeers, programmedPeers+joiners)
	measure := func(l subnet.Lease, join bool) time.Duration {
		var err error
		if join {
			err = env.w.Put(ctx, l)
		} else {
			err = env.w.Delete(ctx, l)
		}
		if err != nil {
			b.Fatal(err)
		}
		written := time.Now()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		at, err := env.tr.waitPeer(wctx, l, join)
		if err != nil {
			b.Fatalf("peer %s (join %t) never reached the kernel: %v", l, join, err)
		}
		// The notification can beat etcd's answer to the writer.
		return max(at.Sub(written), 0)
	}
	var joins, leaves []time.Duration
	for _, l := range added {
		joins = append(joins, measure(l, true))
	}
	for _, l := range added {
		leaves = append(leaves, measure(l, false))
	}
	reportLatencies(b, "join", joins)
	reportLatencies(b, "leave", leaves)
}

// churnOp is one write: a join (Put) or a departure (Delete).
type churnOp struct {
	lease subnet.Lease
	join  bool
}

// churnPlan draws churnEvents joins and departures over the subnets
// [0, 2*programmedPeers), starting from the peers in etcd: a join takes a
// free subnet (with a new VTEP MAC if the subnet was used before), a
// departure removes a present one. Ops are split by subnet over the
// writers, so each subnet's ops keep their order.
func (env *peersEnv) churnPlan(rng *rand.Rand, leases []subnet.Lease) [][]churnOp {
	present := map[int]bool{}
	for _, l := range leases {
		if i, ok := subnet.SubnetIndex(firstSubnet, l.Subnet.Addr(), 24); ok && fakePublic.Contains(l.Attrs.PublicIP) {
			present[int(i)] = true
		}
	}
	plan := make([][]churnOp, churnWriters)
	for range churnEvents {
		i := rng.IntN(2 * programmedPeers)
		join := !present[i]
		if join {
			env.gen[i]++
		}
		present[i] = join
		l := peerLease(i, env.gen[i])
		plan[i%churnWriters] = append(plan[i%churnWriters], churnOp{lease: l, join: join})
	}
	return plan
}

func churn(b *testing.B, env *peersEnv) {
	noTimePerOp(b)
	ctx := benchCtx(b, 5*time.Minute)
	before, err := env.w.Leases(ctx)
	if err != nil {
		b.Fatal(err)
	}
	plan := env.churnPlan(rand.New(rand.NewPCG(8, uint64(time.Now().UnixNano()))), before)
	errs := make(chan error, churnWriters)
	var wg sync.WaitGroup
	start := time.Now()
	for _, ops := range plan {
		wg.Go(func() {
			for _, op := range ops {
				var err error
				if op.join {
					err = env.w.Put(ctx, op.lease)
				} else {
					err = env.w.Delete(ctx, op.lease)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	written := time.Now()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	leases, err := env.w.Leases(ctx)
	if err != nil {
		b.Fatal(err)
	}
	want := wantTables(b, leases)
	seen := env.k.waitTables(b, want, time.Minute)
	if last, ok := env.tr.lastChange(); ok && last.Before(seen) {
		seen = last // the notification of the last change is more precise than the poll
	}
	// Converged must mean settled: nothing changes it afterwards.
	time.Sleep(500 * time.Millisecond)
	if got, err := env.k.tables(); err != nil || !got.equal(want) {
		b.Fatalf("kernel drifted after converging: %v %s", err, diffSummary(got, want))
	}
	b.ReportMetric(ms(max(seen.Sub(written), 0)), "converge-ms")
	b.ReportMetric(churnEvents/written.Sub(start).Seconds(), "etcd-writes/s")
	b.ReportMetric(float64(len(want.Routes)), "peers-after")
}
