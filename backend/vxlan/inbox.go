// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"net/netip"
	"sync"
	"time"

	"github.com/weft-net/weft/backend"
	"github.com/weft-net/weft/subnet"
)

// inbox collects desired-state changes from any goroutine for the Run
// loop: the latest full peer set (digested leases, the one copy of it the
// backend keeps), which subnets changed since the loop last looked, and
// since when (for OnPeerProgrammed). Changes coalesce: the loop sees only
// the latest lease of a subnet.
type inbox struct {
	mu    sync.Mutex
	specs map[netip.Prefix]peerSpec // by peerKey: IPv4 subnet, or IPv6 subnet if IPv6-only
	full  bool
	known bool // a peer set was given: until then Run leaves the peers alone
	dirty map[netip.Prefix]bool
	since map[netip.Prefix]time.Time
	// sinceAll stands for a since entry of every subnet in specs: the
	// first peer set (thousands at a cold start) is marked once.
	sinceAll time.Time
	kick     chan struct{}
	// underlay is a new underlay from SetUnderlay, not yet applied.
	underlay *backend.ExternalInterface
}

func (in *inbox) setUnderlay(ext backend.ExternalInterface) {
	in.mu.Lock()
	in.underlay = &ext
	in.mu.Unlock()
	in.notify()
}

func (in *inbox) init() {
	in.specs = map[netip.Prefix]peerSpec{}
	in.dirty = map[netip.Prefix]bool{}
	in.since = map[netip.Prefix]time.Time{}
	in.kick = make(chan struct{}, 1)
}

func (in *inbox) notify() {
	select {
	case in.kick <- struct{}{}:
	default:
	}
}

// SetPeers replaces the desired peer set. It does not block. The backend
// keeps no reference to peers.
func (b *Backend) SetPeers(peers []subnet.Lease) {
	in := &b.in
	now := time.Now()
	next := make(map[netip.Prefix]peerSpec, len(peers))
	for i := range peers {
		next[peerKey(&peers[i])] = specOf(&peers[i])
	}
	in.mu.Lock()
	if len(in.specs) == 0 && len(in.since) == 0 && in.sinceAll.IsZero() {
		in.sinceAll = now
	}
	for sn, s := range next {
		if old, ok := in.specs[sn]; !ok || !sameSpec(&old, &s) {
			in.markSince(sn, now)
		}
	}
	for sn := range in.specs {
		if _, ok := next[sn]; !ok {
			in.markSince(sn, now)
		}
	}
	in.specs, in.full, in.known = next, true, true
	clear(in.dirty)
	in.mu.Unlock()
	in.notify()
}

// ApplyEvents applies lease changes to the desired set; only the subnets
// named are reprogrammed. It does not block.
func (b *Backend) ApplyEvents(events []subnet.Event) {
	in := &b.in
	now := time.Now()
	in.mu.Lock()
	if !in.known { // the first desired state: reconcile in full
		in.known, in.full = true, true
	}
	for i := range events {
		ev := &events[i]
		sn := peerKey(&ev.Lease)
		old, had := in.specs[sn]
		switch ev.Type {
		case subnet.EventAdded:
			s := specOf(&ev.Lease)
			if had && sameSpec(&old, &s) {
				continue
			}
			in.specs[sn] = s
		case subnet.EventRemoved:
			if !had {
				continue
			}
			delete(in.specs, sn)
		default:
			continue
		}
		in.dirty[sn] = true
		in.markSince(sn, now)
	}
	in.mu.Unlock()
	in.notify()
}

func (in *inbox) markSince(sn netip.Prefix, t time.Time) {
	if !in.sinceAll.IsZero() {
		return // waiting since then already
	}
	if _, ok := in.since[sn]; !ok {
		in.since[sn] = t
	}
}

// size is how many peers the current set holds.
func (in *inbox) size() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.specs)
}

func (in *inbox) hasPeers() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.known
}

// batch is what the loop takes from the inbox in one go.
type batch struct {
	full bool // compare every peer with the kernel
	// replan: the peer set was replaced (or the underlay changed) since
	// the loop last planned; a full reconcile plans every peer from
	// inbox.each. Otherwise changes holds what changed.
	replan   bool
	changes  map[netip.Prefix]*peerSpec // new digest, nil when removed
	since    map[netip.Prefix]time.Time
	sinceAll time.Time
	// underlay, when set, must be applied before anything else; it forces
	// a full reconcile.
	underlay *backend.ExternalInterface
}

// take empties the inbox; wantFull asks for a full reconcile even if only
// events arrived.
func (in *inbox) take(wantFull bool) batch {
	in.mu.Lock()
	defer in.mu.Unlock()
	bt := batch{full: wantFull || in.full || in.underlay != nil, replan: in.full || in.underlay != nil, underlay: in.underlay}
	in.underlay = nil
	bt.sinceAll, in.sinceAll = in.sinceAll, time.Time{}
	if len(in.since) > 0 {
		bt.since = in.since
		in.since = map[netip.Prefix]time.Time{}
	}
	if !bt.replan && len(in.dirty) > 0 {
		bt.changes = make(map[netip.Prefix]*peerSpec, len(in.dirty))
		for sn := range in.dirty {
			if s, ok := in.specs[sn]; ok {
				bt.changes[sn] = &s
			} else {
				bt.changes[sn] = nil
			}
		}
	}
	in.full = false
	clear(in.dirty)
	return bt
}

// each calls f for every peer of the current set, under the inbox's lock:
// a full reconcile plans from the set in place instead of copying it.
// Changes arriving meanwhile wait, and are marked dirty for the next step.
func (in *inbox) each(f func(sn netip.Prefix, s peerSpec)) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for sn, s := range in.specs {
		f(sn, s)
	}
}
