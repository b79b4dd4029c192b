// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp_test

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/backend/dataplane/netlinkdp"
)

const (
	churnTable = 5000 // neighbours and routes that stay
	churnAddrs = 1000 // addresses that stay
	churnSet   = 64   // entries of each kind added and deleted in turn
	churnFor   = 3 * time.Second
	// churnPause is the least pause between bursts of changes (one burst
	// adds or deletes the churning set, 192 changes), and churnDuty the
	// most of the time the tables change: the pause after a burst is at
	// least three times as long as the burst. Without pauses, changes
	// arrive every few tens of microseconds and every dump overlaps some;
	// weftd's tables change in bursts. A fixed 2 ms pause was not enough
	// where a burst took 10 ms: the tables changed 80 % of the time, and an
	// address dump failed its ten attempts in one run of two.
	churnPause = 2 * time.Millisecond
	churnDuty  = 4
)

// nthAddr returns the n-th address after base (IPv4, n < 2^16).
func nthAddr(base netip.Addr, n int) netip.Addr {
	b := base.As4()
	return netip.AddrFrom4([4]byte{b[0], b[1], b[2] + byte(n>>8), b[3] + byte(n)})
}

// churnTables is what the test puts in the namespace: eth0 (the
// harness's veth) carries the neighbours and routes, its peer eth0p the
// addresses.
type churnTables struct {
	eth0, eth0p int
}

func (c churnTables) neigh(n int) dataplane.Neigh {
	return dataplane.Neigh{LinkIndex: c.eth0, IP: nthAddr(netip.MustParseAddr("10.244.0.0"), n),
		MAC: [6]byte{2, 0, 0, 0, byte(n >> 8), byte(n)}}
}

func (c churnTables) route(n int) dataplane.Route {
	return dataplane.Route{LinkIndex: c.eth0, Dst: netip.PrefixFrom(nthAddr(netip.MustParseAddr("10.244.0.0"), n), 32)}
}

func (c churnTables) addr(n int) netip.Prefix {
	return netip.PrefixFrom(nthAddr(netip.MustParseAddr("10.245.0.0"), n), 32)
}

// fill programs entries [from, to) of each kind.
func (c churnTables) fill(dp *netlinkdp.Dataplane, from, to int) error {
	for n := from; n < to; n++ {
		if err := dp.SetNeigh(c.neigh(n)); err != nil {
			return err
		}
		if err := dp.ReplaceRoute(c.route(n)); err != nil {
			return err
		}
		if n-from < churnAddrs {
			if err := dp.AddAddr(c.eth0p, c.addr(n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// empty deletes entries [from, to) of each kind.
func (c churnTables) empty(dp *netlinkdp.Dataplane, from, to int) error {
	for n := from; n < to; n++ {
		if err := dp.DelNeigh(c.neigh(n)); err != nil {
			return err
		}
		if err := dp.DelRoute(c.route(n)); err != nil {
			return err
		}
		if err := dp.DelAddr(c.eth0p, c.addr(n)); err != nil {
			return err
		}
	}
	return nil
}

// counts dumps the tables: permanent neighbours (both families) and routes
// of eth0, links and their addresses. It adds the interruptions each
// dump saw to intr.
func counts(dp *netlinkdp.Dataplane, eth0 int, intr *[3]uint64) (neighs, routes, addrs int, err error) {
	last := dp.DumpInterruptions()
	seen := func(i int) {
		now := dp.DumpInterruptions()
		intr[i] += now - last
		last = now
	}
	ns, err := dp.Neighs(eth0)
	seen(0)
	if err != nil {
		return 0, 0, 0, err
	}
	rs, err := dp.Routes(dataplane.IPv4)
	seen(1)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, r := range rs {
		if r.LinkIndex == eth0 && r.Dst.Bits() == 32 {
			routes++
		}
	}
	// Links dumps the links, then the addresses; a failure names which.
	ls, err := dp.Links()
	seen(2)
	if err != nil {
		return 0, 0, 0, err
	}
	for _, l := range ls {
		addrs += len(l.Addrs)
	}
	return len(ns), routes, addrs, nil
}

// TestDumpUnderChurn dumps large tables (5,000 neighbours, 5,000 routes,
// 1,000 addresses) through the retrying dumps for a bounded time while
// another goroutine keeps adding and deleting entries of each table. Every
// dump must succeed and count between the entries that stay and those plus
// the churning set. How many dumps the kernel reported interrupted (and
// were retried) is reported, not asserted: the kernel flags interrupted
// dumps only for some tables and only when a change lands mid-dump (on
// Linux 6.18 link and address dumps were interrupted, a few per hundred
// dumps; neighbour and IPv4 route dumps never were).
func TestDumpUnderChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: fills a namespace with 11,000 entries and churns it for 3 s")
	}
	h, ns := newHarnessNS(t)
	dp := h.DP.(*netlinkdp.Dataplane)
	peer, err := dp.LinkByName("eth0p")
	if err != nil {
		t.Fatal(err)
	}
	c := churnTables{eth0: h.Underlay.Index, eth0p: peer.Index}
	if err := c.fill(dp, 0, churnTable); err != nil {
		t.Fatal(err)
	}
	var intr [3]uint64
	n0, r0, a0, err := counts(dp, c.eth0, &intr)
	if err != nil {
		t.Fatal(err)
	}
	if n0 < churnTable || r0 < churnTable || a0 < churnAddrs {
		t.Fatalf("filled tables hold %d neighbours, %d routes, %d addresses", n0, r0, a0)
	}

	// The churn runs on a Dataplane of its own, as another program would.
	log, _ := test.NewNullLogger()
	writer, err := netlinkdp.New(ns.Handle, log)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), churnFor)
	defer cancel()
	var changes atomic.Int64
	var wg sync.WaitGroup
	var churnErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			start := time.Now()
			if err := c.fill(writer, churnTable, churnTable+churnSet); err != nil {
				churnErr = err
				return
			}
			time.Sleep(max(churnPause, (churnDuty-1)*time.Since(start)))
			start = time.Now()
			if err := c.empty(writer, churnTable, churnTable+churnSet); err != nil {
				churnErr = err
				return
			}
			time.Sleep(max(churnPause, (churnDuty-1)*time.Since(start)))
			changes.Add(6 * churnSet)
		}
	}()

	dumps, worst := 0, uint64(0)
	for ctx.Err() == nil {
		before := dp.DumpInterruptions()
		n, r, a, err := counts(dp, c.eth0, &intr)
		worst = max(worst, dp.DumpInterruptions()-before)
		if err != nil {
			t.Errorf("dump %d under churn: %v", dumps, err)
			break
		}
		dumps++
		if n < n0 || n > n0+churnSet || r < r0 || r > r0+churnSet || a < a0 || a > a0+churnSet {
			t.Errorf("dump %d: %d neighbours, %d routes, %d addresses; want %d, %d, %d plus up to %d each",
				dumps, n, r, a, n0, r0, a0, churnSet)
		}
	}
	cancel()
	wg.Wait()
	if churnErr != nil {
		t.Fatalf("churn: %v", churnErr)
	}
	t.Logf("%d rounds of dumps during %d changes: %d interruptions retried (neighbours and routes %d, links and "+
		"addresses %d), at most %d in one round (the bound is %d per dump)", dumps, changes.Load(),
		dp.DumpInterruptions(), intr[0]+intr[1], intr[2], worst, netlinkdp.MaxDumpAttempts)
}
