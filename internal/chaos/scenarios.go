// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package chaos

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/weft-net/weft/internal/cluster"
)

// Scenarios are the cases a-j in the order they run on one fleet;
// each leaves the fleet as it found it (every member up with its pod).
func Scenarios() []Scenario {
	return []Scenario{
		coldStart(), joinLeave(), leaderKilled(), quorumLost(), fullOutage(),
		compactDefrag(), weftdKilled(), nodeReboot(), leaseChurn(), strayKeys(),
	}
}

func coldStart() Scenario {
	return Scenario{
		Name: "a-cold-start", Title: "fleet cold start: every weftd started at once", NoProbe: true,
		Doc: "Every node's weftd starts at the same moment against an etcd holding no lease. Each allocates " +
			"a subnet and programs every other node as they appear. Measured: the time until every node " +
			"routes every other node's subnet, etcd's CPU and the bytes etcd sent.",
		Do: func(ctx context.Context, f *Fleet, r *Run) error {
			t0 := time.Now()
			for _, n := range f.Members() {
				if err := n.StartWeftd(); err != nil {
					return err
				}
			}
			if err := f.each(f.Members(), func(n *cluster.Node) error { return n.WaitReady(ctx) }); err != nil {
				return err
			}
			r.Figure("all_ready_s", time.Since(t0).Seconds())
			var want []netip.Prefix
			for _, n := range f.Members() {
				sn, err := subnetOf(n)
				if err != nil {
					return err
				}
				want = append(want, sn)
			}
			d, err := f.waitRoutes(ctx, f.Members(), t0, f.Cfg.Converge, func(rs map[netip.Prefix]bool) bool {
				return len(rs) >= len(want)-1
			})
			if err != nil {
				return fmt.Errorf("cold start: %w", err)
			}
			r.Figure("all_programmed_p50_s", pct(d, 0.5))
			r.Figure("all_programmed_max_s", pct(d, 1))
			return nil
		},
	}
}

func joinLeave() Scenario {
	return Scenario{
		Name: "b-join-leave", Title: "a node joins, then leaves for good (--release-on-exit)",
		Doc: "One extra node starts weftd (a join) and is stopped with SIGTERM under --release-on-exit, " +
			"which deletes its lease (a node leaving for good, as Documentation/running.md describes; a plain " +
			"stop keeps the lease, and the node's subnet then stays programmed on its peers until the lease's " +
			"TTL ends). Repeated; measured per cycle: from weftd's start until the last of the N members routes " +
			"the joiner's subnet, and from SIGTERM until the last of them no longer does.",
		Do: func(ctx context.Context, f *Fleet, r *Run) error {
			j, err := f.Joiner(ctx)
			if err != nil {
				return err
			}
			var joins, leaves []time.Duration
			for range f.Cfg.Joins {
				jd, ld, err := f.joinOnce(ctx, j)
				if err != nil {
					return err
				}
				joins, leaves = append(joins, jd), append(leaves, ld)
			}
			r.ConvergeFrom("last leave", time.Now())
			slices.Sort(joins)
			slices.Sort(leaves)
			r.Figure("joins", float64(len(joins)))
			r.Figure("join_p50_s", pct(joins, 0.5))
			r.Figure("join_p99_s", pct(joins, 0.99))
			r.Figure("join_max_s", pct(joins, 1))
			r.Figure("leave_p50_s", pct(leaves, 0.5))
			r.Figure("leave_p99_s", pct(leaves, 0.99))
			r.Figure("leave_max_s", pct(leaves, 1))
			return nil
		},
	}
}

// joinOnce starts the joiner's weftd, times until every member routes its
// subnet, stops it with --release-on-exit and times until none does.
func (f *Fleet) joinOnce(ctx context.Context, j *cluster.Node) (join, leave time.Duration, err error) {
	_ = os.Remove(j.SubnetFile()) // a fresh node: no subnet.env yet
	t0 := time.Now()
	if err := j.StartWeftd("--release-on-exit"); err != nil {
		return 0, 0, err
	}
	if err := j.WaitReady(ctx); err != nil {
		return 0, 0, err
	}
	sn, err := subnetOf(j)
	if err != nil {
		return 0, 0, err
	}
	d, err := f.waitRoutes(ctx, f.Members(), t0, f.Cfg.Converge, func(rs map[netip.Prefix]bool) bool { return rs[sn] })
	if err != nil {
		return 0, 0, fmt.Errorf("join of %s: %w", sn, err)
	}
	join = d[len(d)-1]
	t1 := time.Now()
	code, err := j.StopWeftd(syscall.SIGTERM, 30*time.Second)
	if err != nil {
		return 0, 0, fmt.Errorf("leave: %w", err)
	}
	if code != 0 {
		return 0, 0, fmt.Errorf("leave: weftd exited with %d on SIGTERM", code)
	}
	d, err = f.waitRoutes(ctx, f.Members(), t1, f.Cfg.Converge, func(rs map[netip.Prefix]bool) bool { return !rs[sn] })
	if err != nil {
		return 0, 0, fmt.Errorf("leave of %s: %w", sn, err)
	}
	return join, d[len(d)-1], nil
}

func leaderKilled() Scenario {
	return Scenario{
		Name: "c-leader-killed", Title: "etcd leader killed (SIGKILL), restarted later",
		Doc: "The etcd member that leads is killed; the other two elect a new leader and serve on. weftd's " +
			"watches and keepalives move to a live member. The killed member is restarted after a while and " +
			"catches up. Nothing should change in any kernel and no packet should be lost.",
		Do: func(ctx context.Context, f *Fleet, r *Run) error {
			m, err := f.C.EtcdLeader(ctx)
			if err != nil {
				return err
			}
			r.Note("killed %s, the leader", m.Name)
			t0 := time.Now()
			m.Kill()
			if d, err := f.waitLeader(ctx, t0); err == nil {
				r.Figure("new_leader_s", d.Seconds())
			} else {
				r.Fail("no new leader: %v", err)
			}
			time.Sleep(max(0, f.Cfg.LeaderDown-time.Since(t0)))
			r.ConvergeFrom("member restart", time.Now())
			return m.Start()
		},
	}
}

// waitLeader polls until the running members have a leader.
func (f *Fleet) waitLeader(ctx context.Context, t0 time.Time) (time.Duration, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := f.C.EtcdLeader(ctx); err == nil {
			return time.Since(t0), nil
		} else if time.Now().After(deadline) {
			return 0, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func quorumLost() Scenario {
	return Scenario{
		Name: "d-quorum-lost", Title: "etcd quorum lost (2 of 3 members killed), then restored",
		Doc: "Two of the three members (the leader among them) are killed: the survivor cannot serve. weftd " +
			"cannot renew its lease nor see changes, and keeps forwarding with the peers it has. Both members " +
			"are restarted after the outage; convergence is timed from the restart.",
		Do: func(ctx context.Context, f *Fleet, r *Run) error {
			return f.etcdOutage(ctx, r, 2, f.Cfg.QuorumLoss)
		},
	}
}

func fullOutage() Scenario {
	return Scenario{
		Name: "e-etcd-down", Title: "all etcd members down, then back",
		Doc: "Every etcd member is killed for the outage and then restarted with its data. weftd keeps every " +
			"route, neighbour and FDB entry it has (it never flushes on an etcd error), retries, and resumes " +
			"its watch and keepalive when etcd is back; convergence is timed from the restart.",
		Do: func(ctx context.Context, f *Fleet, r *Run) error {
			return f.etcdOutage(ctx, r, len(f.C.Etcd), f.Cfg.FullOutage)
		},
	}
}

// etcdOutage kills k members, the leader first, for d, then restarts them.
func (f *Fleet) etcdOutage(ctx context.Context, r *Run, k int, d time.Duration) error {
	leader, err := f.C.EtcdLeader(ctx)
	if err != nil {
		return err
	}
	victims := []*cluster.EtcdMember{leader}
	for _, m := range f.C.Etcd {
		if len(victims) < k && m != leader {
			victims = append(victims, m)
		}
	}
	for _, m := range victims {
		m.Kill()
	}
	r.Note("killed %d of %d etcd members for %s", len(victims), len(f.C.Etcd), d)
	time.Sleep(d)
	r.ConvergeFrom("etcd restart", time.Now())
	var errs []error
	for _, m := range victims {
		errs = append(errs, m.Start())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if ld, err := f.waitLeader(ctx, time.Now()); err == nil {
		r.Figure("leader_after_restart_s", ld.Seconds())
	}
	return nil
}

func compactDefrag() Scenario {
	return Scenario{
		Name: "f-compact-defrag", Title: "etcd compaction and defragmentation under lease churn",
		Doc: "Fake peer leases are written and deleted at a steady rate while etcd's history is compacted " +
			"to the current revision and every member is defragmented in turn. A watch that falls behind " +
			"the compaction gets a compacted error and weftd resynchronises from a fresh list.",
		Do: func(ctx context.Context, f *Fleet, r *Run) error {
			ch, err := f.startChurn(ctx, 0)
			if err != nil {
				return err
			}
			time.Sleep(2 * time.Second)
			t0 := time.Now()
			rev, cerr := f.C.CompactAndDefrag(ctx)
			r.Figure("compact_defrag_s", time.Since(t0).Seconds())
			r.Figure("compacted_revision", float64(rev))
			time.Sleep(3 * time.Second)
			events, err := ch.stop(ctx)
			r.ConvergeFrom("churn stopped", time.Now())
			r.Figure("churn_events", float64(events))
			return errors.Join(cerr, err)
		},
	}
}

func weftdKilled() Scenario {
	return Scenario{
		Name: "g-weftd-kill9", Title: "weftd kill -9 and restart on 10 % of the nodes at once",
		Doc: "weftd is killed with SIGKILL on a tenth of the nodes (at least one) and started again at once. " +
			"The kernel keeps the overlay while weftd is gone; the new weftd adopts its device, lease and " +
			"entries without flushing them. The nodes stay up: their pairs count as established.",
		Do: func(ctx context.Context, f *Fleet, r *Run) error {
			victims := f.pick(int(math.Max(1, math.Round(f.Cfg.KillFraction*float64(f.Cfg.Nodes)))), 1)
			t0 := time.Now()
			for _, n := range victims {
				if _, err := n.StopWeftd(syscall.SIGKILL, 10*time.Second); err != nil {
					return err
				}
			}
			for _, n := range victims {
				if err := n.StartWeftd(); err != nil {
					return err
				}
			}
			if err := f.each(victims, func(n *cluster.Node) error { return n.WaitReady(ctx) }); err != nil {
				return err
			}
			r.Figure("killed", float64(len(victims)))
			r.Figure("ready_again_s", time.Since(t0).Seconds())
			return nil
		},
	}
}

// pick chooses k members, deterministically from the seed and salt,
// preferring the probed pairs' nodes so a fault hits traffic.
func (f *Fleet) pick(k int, salt uint64) []*cluster.Node {
	var probed, rest []*cluster.Node
	seen := map[*cluster.Node]bool{}
	for _, p := range PickPairs(f.Members(), f.Cfg.Pairs, f.Cfg.Seed) {
		for _, n := range []*cluster.Node{p.Src, p.Dst} {
			if !seen[n] {
				seen[n] = true
				probed = append(probed, n)
			}
		}
	}
	for _, n := range f.Members() {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	rnd := rand.New(rand.NewPCG(uint64(f.Cfg.Seed), salt))
	rnd.Shuffle(len(probed), func(i, j int) { probed[i], probed[j] = probed[j], probed[i] })
	return append(probed, rest...)[:min(k, f.Cfg.Nodes)]
}

func nodeReboot() Scenario {
	return Scenario{
		Name: "h-node-reboot", Title: "a node rebooted: namespace torn down and rebuilt, weftd restarted",
		Doc: "One node loses everything in its network namespace (devices, routes, neighbours, pods) and " +
			"weftd is restarted with the same subnet file, as after a reboot. It must come back with the same " +
			"subnet and program every peer again; the other nodes must end up with its current entries " +
			"(weftd reuses the VTEP MAC its lease records, so they keep theirs). Pairs with this node are not " +
			"established during the scenario; all others must lose nothing.",
		Do: func(ctx context.Context, f *Fleet, r *Run) error {
			n := f.pick(1, 2)[0]
			before, err := subnetOf(n)
			if err != nil {
				return err
			}
			r.NodeDown(n.Name)
			r.Note("rebooted %s (%s)", n.Name, before)
			f.dropPod(n)
			t0 := time.Now()
			if err := n.Reboot(); err != nil {
				return err
			}
			if err := n.StartWeftd(); err != nil {
				return err
			}
			if err := n.WaitReady(ctx); err != nil {
				return err
			}
			r.Figure("ready_again_s", time.Since(t0).Seconds())
			after, err := subnetOf(n)
			if err != nil {
				return err
			}
			if after != before {
				r.Fail("%s came back with subnet %s, had %s", n.Name, after, before)
			}
			others := slices.DeleteFunc(slices.Clone(f.Members()), func(o *cluster.Node) bool { return o == n })
			d, err := f.waitRoutes(ctx, []*cluster.Node{n}, t0, f.Cfg.Converge, func(rs map[netip.Prefix]bool) bool {
				return len(rs) >= len(others)
			})
			if err != nil {
				return fmt.Errorf("rebooted node programs its peers: %w", err)
			}
			r.Figure("peers_programmed_s", pct(d, 1))
			// Its pod again, and traffic to it from another node's pod.
			if err := f.addPod(ctx, n); err != nil {
				return fmt.Errorf("pod on rebooted node: %w", err)
			}
			if len(others) == 0 {
				return nil
			}
			back, err := reachable(ctx, f.Pod(others[0]).NS, f.Pod(n).Addr(), f.Cfg.Converge)
			if err != nil {
				return fmt.Errorf("pod on rebooted node from %s: %w", others[0].Name, err)
			}
			r.Figure("pod_reachable_s", back.Seconds())
			return nil
		},
	}
}

func leaseChurn() Scenario {
	return Scenario{
		Name: "i-lease-churn", Title: "lease churn (fake peers joining and leaving) under traffic",
		Doc: "Fake peer leases (public addresses in 198.19.0.0/16, subnets no node holds) are written and " +
			"deleted at a steady rate while the probes run: every node programs and removes each. The real " +
			"peers' entries must not be touched.",
		Do: func(ctx context.Context, f *Fleet, r *Run) error {
			ch, err := f.startChurn(ctx, f.Cfg.ChurnEvents)
			if err != nil {
				return err
			}
			t0 := time.Now()
			<-ch.done
			r.Figure("churn_s", time.Since(t0).Seconds())
			events, err := ch.stop(ctx)
			r.Figure("churn_events", float64(events))
			r.ConvergeFrom("last lease event", time.Now())
			return err
		},
	}
}

// pct is the nearest-rank p-quantile of sorted ds, in seconds.
func pct(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)].Seconds()
}

// reachable pings dst from namespace ns until it answers, for at most
// timeout, and returns how long that took.
func reachable(ctx context.Context, ns string, dst netip.Addr, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	for {
		_, err := cluster.Ping(ns, dst, 1, 500*time.Millisecond)
		if err == nil {
			return time.Since(t0), nil
		}
		if time.Since(t0) > timeout || ctx.Err() != nil {
			return 0, fmt.Errorf("no answer from %s in %s: %w", dst, timeout, err)
		}
	}
}
