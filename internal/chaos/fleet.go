// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package chaos runs fault scenarios against a fleet of real weftd
// processes: N node namespaces on internal/cluster's veth underlay, a
// 3-member etcd, one pod per node made through the CNI plugin. While a
// scenario breaks something (etcd's leader, its quorum, compaction, weftd
// crashes, a node reboot, lease churn, stray keys), a prober sends UDP at
// a steady rate between sampled pod pairs and records every lost packet,
// and a checker compares every node's kernel tables with what etcd says,
// through weftd's own admission and planner (subnet.Admit, vxlan.Check),
// to time convergence. Each scenario reports loss, convergence, the cost
// in weftd and etcd CPU, memory and log lines; `make chaos` writes them as
// JSON and `make chaos-doc` turns them into Documentation/reliability.md.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/weft-net/weft/internal/cluster"
)

// Config shapes a fleet and the scenarios run on it. Full and Small give
// the two standard sizes.
type Config struct {
	Nodes int   // weftd nodes (at most 199: one more is the joiner)
	Pairs int   // probed pod pairs
	Rate  int   // probe packets per second per pair
	Seed  int64 // picks the pairs and the nodes a scenario hits

	Joins        int           // join/leave cycles in scenario b
	LeaderDown   time.Duration // how long the killed etcd leader stays down
	QuorumLoss   time.Duration // how long 2 of 3 members stay down
	FullOutage   time.Duration // how long every member stays down
	ChurnEvents  int           // lease puts plus deletes in scenario i
	ChurnRate    int           // lease events per second for churn
	KillFraction float64       // share of nodes whose weftd is killed in scenario g
	LeaseTTL     time.Duration // weftd --subnet-lease-ttl; 0 keeps weftd's default
	// Converge bounds the wait for every kernel to equal etcd's view; a
	// scenario that needs longer fails.
	Converge time.Duration
	// Workers is how many nodes are set up or checked at once.
	Workers int
}

// Full is the run: the outages at their real length.
func Full(nodes int) Config {
	return Config{
		Nodes: nodes, Pairs: 20, Rate: 100, Seed: 16,
		Joins: 20, LeaderDown: 10 * time.Second, QuorumLoss: 30 * time.Second, FullOutage: 60 * time.Second,
		ChurnEvents: 1000, ChurnRate: 50, KillFraction: 0.1,
		Converge: 3 * time.Minute, Workers: 4,
	}
}

// Small is the version `go test` runs: six nodes, outages of at most 10 s
// with a 30 s lease TTL, so the leases must survive the outages through
// weftd's keepalive rather than a long TTL.
func Small() Config {
	return Config{
		Nodes: 6, Pairs: 20, Rate: 100, Seed: 16,
		Joins: 3, LeaderDown: 3 * time.Second, QuorumLoss: 8 * time.Second, FullOutage: 10 * time.Second,
		ChurnEvents: 200, ChurnRate: 50, KillFraction: 0.1,
		LeaseTTL: 30 * time.Second, Converge: 2 * time.Minute, Workers: 3,
	}
}

// Fleet is the running cluster the scenarios share. Nodes[0..Nodes-1]
// are the members; the joiner, made on first use, is the extra node that
// joins and leaves in scenario b.
type Fleet struct {
	C      *cluster.Cluster
	Cfg    Config
	Logf   func(format string, args ...any)
	joiner *cluster.Node

	mu   sync.Mutex
	pods map[*cluster.Node]*cluster.Pod
}

// Options are what the fleet needs from its caller besides Config.
type Options struct {
	BinDir, CNIPath, ConfList, Dir string
	Logf                           func(format string, args ...any)
}

// NewFleet builds the namespaces and etcd, without weftd: the cold start
// scenario starts the daemons. On error everything made is removed.
func NewFleet(ctx context.Context, cfg Config, o Options) (*Fleet, error) {
	if cfg.Nodes < 2 {
		return nil, fmt.Errorf("chaos: %d nodes: want at least 2", cfg.Nodes)
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	// The knobs of Documentation/scale.md pinned at their defaults: the
	// fleet measures what an operator gets without touching them.
	args := []string{"--log-level", "info", "--etcd-serializable-lists=true", "--start-jitter=0s"}
	if cfg.LeaseTTL > 0 {
		args = append(args, "--subnet-lease-ttl", cfg.LeaseTTL.String())
	}
	c, err := cluster.New(ctx, cluster.Options{
		Nodes: cfg.Nodes, EtcdMembers: 3, BinDir: o.BinDir, CNIPath: o.CNIPath, ConfList: o.ConfList,
		Dir: o.Dir, NoWeftd: true, WeftdArgs: args, Logf: o.Logf,
	})
	if err != nil {
		return nil, fmt.Errorf("chaos: fleet of %d: %w", cfg.Nodes, err)
	}
	return &Fleet{C: c, Cfg: cfg, Logf: o.Logf, pods: map[*cluster.Node]*cluster.Pod{}}, nil
}

// Close removes every namespace and process of the fleet.
func (f *Fleet) Close() error { return f.C.Close() }

// Members are the fleet's nodes without the joiner.
func (f *Fleet) Members() []*cluster.Node { return f.C.Nodes[:f.Cfg.Nodes] }

// Up lists the nodes whose weftd runs (the joiner included when it does).
func (f *Fleet) Up() []*cluster.Node {
	var up []*cluster.Node
	for _, n := range f.C.Nodes {
		if n.WeftdPID() != 0 {
			up = append(up, n)
		}
	}
	return up
}

// Pod is the node's probe pod, nil before AddPods or after a reboot.
func (f *Fleet) Pod(n *cluster.Node) *cluster.Pod {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pods[n]
}

// each runs fn for every node, Workers at a time, and joins the errors.
func (f *Fleet) each(nodes []*cluster.Node, fn func(n *cluster.Node) error) error {
	sem := make(chan struct{}, max(f.Cfg.Workers, 1))
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(n); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// AddPods gives every member without one its probe pod, through CNI ADD.
func (f *Fleet) AddPods(ctx context.Context) error {
	return f.each(f.Members(), func(n *cluster.Node) error {
		if f.Pod(n) != nil {
			return nil
		}
		return f.addPod(ctx, n)
	})
}

func (f *Fleet) addPod(ctx context.Context, n *cluster.Node) error {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	p, err := n.AddPod(cctx, fmt.Sprintf("probe%d", time.Now().UnixNano()%1e6))
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.pods[n] = p
	f.mu.Unlock()
	return nil
}

// dropPod forgets a node's pod (its namespace is gone).
func (f *Fleet) dropPod(n *cluster.Node) {
	f.mu.Lock()
	delete(f.pods, n)
	f.mu.Unlock()
}

// Joiner returns the extra node that joins and leaves, attaching it on
// first use; its weftd is not running.
func (f *Fleet) Joiner(ctx context.Context) (*cluster.Node, error) {
	if f.joiner == nil {
		n, err := f.C.AddNode(ctx) // NoWeftd: attaches only
		if err != nil {
			return nil, err
		}
		f.joiner = n
	}
	return f.joiner, nil
}

// subnetOf reads a node's leased subnet from its subnet.env.
func subnetOf(n *cluster.Node) (netip.Prefix, error) {
	sn, err := n.Subnet()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("node %s: %w", n.Name, err)
	}
	return sn, nil
}
