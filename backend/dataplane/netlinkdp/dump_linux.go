// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// maxDumpAttempts bounds how often one dump is tried when the kernel
// reports it interrupted. An interruption means the table changed while
// it was being read, and a retry right away usually gets a clean copy
// (TestDumpUnderChurn, with another program changing the tables in bursts,
// sees at most a few interruptions per round of dumps). A table that keeps
// changing through ten dumps in a row fails the call: the caller (a
// reconcile) retries on its own schedule.
const maxDumpAttempts = 10

// dumper is the part of *netlink.Handle that reads whole tables. Every
// call of it goes through retryDump (the lint rule forbidigo enforces this
// outside this file); it is an interface so that tests can interrupt dumps.
type dumper interface {
	LinkList() ([]netlink.Link, error)
	LinkByName(name string) (netlink.Link, error)
	AddrList(link netlink.Link, family int) ([]netlink.Addr, error)
	NeighIter(linkIndex, family int, f func(*neighMsg) bool) error
	RouteIter(family int, f func(*routeMsg) bool) error
}

var _ dumper = (*handleDumper)(nil)

// maxRetryPause caps the pause between two attempts of a dump.
const maxRetryPause = 32 * time.Millisecond

// retryDump runs one dump until the kernel completes it uninterrupted, at
// most maxDumpAttempts times, and counts the interruptions on d. The
// second attempt follows the first at once (one change landed mid-dump);
// each further one waits twice as long as the one before, from
// d.retryPause up to maxRetryPause, so that the attempts span a burst of
// changes rather than fall within it: tables change in bursts (weft's own
// programming is one), and a dump of a few hundred microseconds retried
// at once fails all its attempts inside one burst of address changes
// (TestDumpUnderChurn).
//
// On an interruption vishvananda/netlink (v1.3.x) returns the entries read
// so far together with ErrDumpInterrupted (the Iter forms have already
// passed them to the callback). They may miss entries or hold stale ones,
// so they are never used: each attempt starts from nothing (dump builds
// its result afresh on every call), and after the last attempt the error
// is returned without a result. A reconcile acting on a partial table
// would only repeat work, but Links feeds decisions (the underlay, foreign
// routes) that must not rest on half a table.
func retryDump[T any](d *Dataplane, name string, dump func() (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
		d.interrupted.Add(1)
		if attempt == maxDumpAttempts {
			var zero T
			return zero, fmt.Errorf("dump %s: changed during each of %d attempts: %w", name, attempt, err)
		}
		if attempt > 1 && d.retryPause > 0 {
			time.Sleep(min(d.retryPause<<(attempt-2), maxRetryPause))
		}
	}
}

// DumpInterruptions is how many table dumps the kernel reported
// interrupted (by a change of the table during the dump) since New; each
// was retried.
func (d *Dataplane) DumpInterruptions() uint64 { return d.interrupted.Load() }

func (d *Dataplane) listLinks() ([]netlink.Link, error) {
	return retryDump(d, "links", d.dump.LinkList)
}

// linkByName is not a dump on current kernels, but the library falls back
// to filtering a link dump where the kernel cannot look names up.
func (d *Dataplane) linkByName(name string) (netlink.Link, error) {
	return retryDump(d, "links", func() (netlink.Link, error) { return d.dump.LinkByName(name) })
}

// listAddrs lists the addresses of link (nil: of every link).
func (d *Dataplane) listAddrs(link netlink.Link) ([]netlink.Addr, error) {
	return retryDump(d, "addresses", func() ([]netlink.Addr, error) {
		return d.dump.AddrList(link, netlink.FAMILY_ALL)
	})
}

// eachNeigh passes the neighbour entries of a link (family AF_INET or
// AF_INET6), or its FDB entries (AF_BRIDGE), to add, which folds them into
// a result that starts from start() on every attempt.
func eachNeigh[T any](d *Dataplane, index, family int, start func() T, add func(acc T, n *neighMsg) T) (T, error) {
	name := familyName(family) + " neighbours"
	if family == unix.AF_BRIDGE {
		name = "fdb"
	}
	return retryDump(d, name, func() (T, error) {
		acc := start()
		err := d.dump.NeighIter(index, family, func(n *neighMsg) bool {
			acc = add(acc, n)
			return true
		})
		return acc, err
	})
}

// collectRoutes dumps the routes of one family's main table of type typ
// (RTN_UNSPEC: any), folding each into a result that starts from start()
// on every attempt, so that an interrupted attempt leaves nothing behind.
func collectRoutes[T any](d *Dataplane, family int, typ uint8, start func() T, add func(acc T, r *routeMsg) T) (T, error) {
	return retryDump(d, familyName(family)+" routes", func() (T, error) {
		acc := start()
		err := d.dump.RouteIter(family, func(r *routeMsg) bool {
			if r.table == unix.RT_TABLE_MAIN && (typ == unix.RTN_UNSPEC || r.typ == typ) {
				acc = add(acc, r)
			}
			return true
		})
		return acc, err
	})
}

// dumpSizes remembers how many entries the last dump of each table kept,
// plus those added and less those deleted through this Dataplane since,
// so that the next dump allocates its result once, at about the size it
// will have, instead of growing it by doubling: at 10,000 peers the
// arrays left behind by growing were 2 MB per full reconcile, the largest
// objects of weftd's heap, at its peak (the reconcile right after the
// cold start's programming).
type dumpSizes struct {
	mu sync.Mutex
	n  map[dumpTable]int
}

// dumpTable names a table: a kind ('r' routes, 'n' neighbours, 'f' FDB),
// the family and the link (0 for routes).
type dumpTable struct {
	kind   byte
	family uint8
	link   int
}

// hint is the capacity to give the next result of t: the last size and a
// sixteenth more for growth.
func (s *dumpSizes) hint(t dumpTable) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.n[t]
	return n + n/16
}

// grow counts entries added (delta > 0) or deleted in t since its last
// dump; a table not dumped yet is left alone.
func (s *dumpSizes) grow(t dumpTable, delta int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.n[t]; ok {
		s.n[t] = max(n+delta, 0)
	}
}

// maxDumpTables bounds the tables remembered: a VXLAN device re-created
// gets a new index, and so its neighbour and FDB tables new keys.
const maxDumpTables = 64

func (s *dumpSizes) keep(t dumpTable, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.n[t]; !ok && len(s.n) >= maxDumpTables {
		clear(s.n)
	}
	if s.n == nil {
		s.n = map[dumpTable]int{}
	}
	s.n[t] = n
}

// sized returns an empty slice with the capacity hinted for t.
func sized[E any](d *Dataplane, t dumpTable) []E {
	if n := d.sizes.hint(t); n > 0 {
		return make([]E, 0, n)
	}
	return nil
}

func familyName(family int) string {
	switch family {
	case netlink.FAMILY_V4:
		return "ipv4"
	case netlink.FAMILY_V6:
		return "ipv6"
	case netlink.FAMILY_ALL:
		return "all"
	}
	return fmt.Sprintf("family %d", family)
}
