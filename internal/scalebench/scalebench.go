// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package scalebench measures what a large weft fleet costs etcd, the
// inputs of Documentation/scale.md's model: the fan-out of one lease put to
// W watchers on the subnets prefix (delivery latency, etcd CPU, bytes per
// event), the fleet-start storm of W clients listing L leases at once
// (linearizable or serializable, from the leader or from followers), and
// the keep-alive load of W etcd leases renewed as weftd renews them.
//
// Everything runs on internal/cluster: etcd (one member, or three) as its
// own process in its own namespace, and a few `weft-demo watch-load`
// processes, each in a node namespace on the underlay, holding the W
// clients (each its own connection and watch, as W daemons would). CPU is
// read from /proc/<pid>/stat of the members, bytes from eth0 inside each
// member's namespace. The test runs a small correctness version in
// `make test` and the full measurement with WEFT_SCALE_FULL=1
// (`make scale-bench`), which writes bench/results/scale-<date>-<commit>.json;
// cmd/scaledoc turns the newest of those into scale.md's tables.
package scalebench

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/subnet"
)

// Options shape one measurement run over one etcd topology.
type Options struct {
	BinDir   string
	Members  int // etcd members: 1 or 3
	Watchers int // W: clients with a watch each, over all load processes
	Procs    int // load processes (default 4)
	// Targets are the endpoint sets to run the phases against: "all",
	// "leader", "followers" (default: "all").
	Targets []string
	IdleFor time.Duration // the idle window measured first (default 3s)
	Puts    int           // lease puts in the fan-out phase (default 50)
	PutGap  time.Duration // between puts (default 200ms)
	// ListSizes are the L of the list storms (default 1,000); ListModes
	// says which read modes each runs in (default both).
	ListSizes []int
	ListModes []ListMode
	// ListClients caps the clients of a storm (0: all W): a storm's cost is
	// linear in its clients, and W × L leases of 150 bytes is more than
	// this machine moves in the run's time budget at W=5,000.
	ListClients int
	// KeepAlive: every client grants an etcd lease of KeepAliveTTL and
	// renews it once per KeepAliveInterval for KeepAliveFor (zero: skipped).
	KeepAliveTTL      time.Duration
	KeepAliveInterval time.Duration
	KeepAliveFor      time.Duration
	Logf              func(format string, args ...any)
}

// ListMode is how the storm's lists read.
type ListMode string

// The read modes of a list.
const (
	Linearizable ListMode = "linearizable"
	Serializable ListMode = "serializable"
)

func (o *Options) setDefaults() {
	if o.Procs == 0 {
		o.Procs = 4
	}
	if o.Members == 0 {
		o.Members = 1
	}
	if len(o.Targets) == 0 {
		o.Targets = []string{"all"}
	}
	if o.IdleFor == 0 {
		o.IdleFor = 3 * time.Second
	}
	if o.Puts == 0 {
		o.Puts = 50
	}
	if o.PutGap == 0 {
		o.PutGap = 200 * time.Millisecond
	}
	if len(o.ListSizes) == 0 {
		o.ListSizes = []int{1000}
	}
	if len(o.ListModes) == 0 {
		o.ListModes = []ListMode{Linearizable, Serializable}
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Network is where the benchmark's simulated leases come from: a /9 of /24
// subnets, as the large e2e benchmarks use, room for 32,767 nodes.
var firstSubnet = netip.MustParseAddr("10.128.1.0")

// NetConf is the network config the benchmark's cluster gets.
const NetConf = `{"Network":"10.128.0.0/9","SubnetLen":24,"Backend":{"Type":"vxlan"}}`

// listPrefix is where the list storms' leases live: apart from the watched
// prefix, so that writing L leases does not send L events to W watchers.
func listPrefix(l int) string { return fmt.Sprintf("/weft-scalebench/list-%d", l) }

// Run builds the topology, runs every phase against every target and
// tears everything down.
func Run(ctx context.Context, o Options) (Topology, error) {
	o.setDefaults()
	top := Topology{Members: o.Members}
	c, err := cluster.New(ctx, cluster.Options{
		Nodes: o.Procs, EtcdMembers: o.Members, BinDir: o.BinDir, NoWeftd: true, NetConf: NetConf, Logf: o.Logf,
	})
	if err != nil {
		return top, err
	}
	defer c.Close()
	for _, l := range o.ListSizes {
		if err := writeLeases(ctx, c, listPrefix(l), l); err != nil {
			return top, err
		}
	}
	for _, target := range o.Targets {
		eps, err := endpoints(ctx, c, target)
		if err != nil {
			return top, err
		}
		r, err := runTarget(ctx, c, o, target, eps)
		if err != nil {
			return top, fmt.Errorf("%d member(s), %s: %w", o.Members, target, err)
		}
		top.Runs = append(top.Runs, r)
	}
	return top, nil
}

// writeLeases stores n simulated leases under prefix.
func writeLeases(ctx context.Context, c *cluster.Cluster, prefix string, n int) error {
	w, err := c.NewLeaseWriterUnder(ctx, prefix, time.Hour)
	if err != nil {
		return err
	}
	defer w.Close()
	leases := make([]subnet.Lease, n)
	for i := range leases {
		leases[i] = cluster.PeerLease(firstSubnet, i, 0)
	}
	return w.PutAll(ctx, leases)
}

// endpoints resolves a target to client URLs.
func endpoints(ctx context.Context, c *cluster.Cluster, target string) ([]string, error) {
	var all []string
	for _, m := range c.Etcd {
		all = append(all, m.ClientURL())
	}
	if target == "all" {
		return all, nil
	}
	leader, err := leaderURL(ctx, c)
	if err != nil {
		return nil, err
	}
	switch target {
	case "leader":
		return []string{leader}, nil
	case "followers":
		return slices.DeleteFunc(all, func(u string) bool { return u == leader }), nil
	}
	return nil, fmt.Errorf("target %q: want all, leader or followers", target)
}

func leaderURL(ctx context.Context, c *cluster.Cluster) (string, error) {
	cl, err := c.Client()
	if err != nil {
		return "", err
	}
	defer cl.Close()
	for _, m := range c.Etcd {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := cl.Status(sctx, m.ClientURL())
		cancel()
		if err != nil {
			return "", fmt.Errorf("status of %s: %w", m.Name, err)
		}
		if s.Leader == s.Header.MemberId {
			return m.ClientURL(), nil
		}
	}
	return "", fmt.Errorf("no etcd member says it leads")
}
