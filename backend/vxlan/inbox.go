// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"bytes"
	"net/netip"
	"sync"
	"time"

	"github.com/weft-net/weft/backend"
	"github.com/weft-net/weft/subnet"
)

// inbox collects desired-state changes from any goroutine for the Run
// loop: the latest full lease set, which subnets changed since the loop
// last looked, and since when (for OnPeerProgrammed). Changes coalesce: the
// loop sees only the latest lease of a subnet.
type inbox struct {
	mu     sync.Mutex
	leases map[netip.Prefix]subnet.Lease // by IPv4 subnet
	full   bool
	dirty  map[netip.Prefix]bool
	since  map[netip.Prefix]time.Time
	kick   chan struct{}
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
	in.leases = map[netip.Prefix]subnet.Lease{}
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

// SetPeers replaces the desired peer set. It does not block.
func (b *Backend) SetPeers(peers []subnet.Lease) {
	in := &b.in
	now := time.Now()
	next := make(map[netip.Prefix]subnet.Lease, len(peers))
	for _, p := range peers {
		next[p.Subnet] = p
	}
	in.mu.Lock()
	for sn, p := range next {
		if old, ok := in.leases[sn]; !ok || !sameLease(old, p) {
			in.markSince(sn, now)
		}
	}
	for sn := range in.leases {
		if _, ok := next[sn]; !ok {
			in.markSince(sn, now)
		}
	}
	in.leases, in.full = next, true
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
	for _, ev := range events {
		sn := ev.Lease.Subnet
		old, had := in.leases[sn]
		switch ev.Type {
		case subnet.EventAdded:
			if had && sameLease(old, ev.Lease) {
				continue
			}
			in.leases[sn] = ev.Lease
		case subnet.EventRemoved:
			if !had {
				continue
			}
			delete(in.leases, sn)
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
	if _, ok := in.since[sn]; !ok {
		in.since[sn] = t
	}
}

// batch is what the loop takes from the inbox in one go.
type batch struct {
	full    bool
	leases  []subnet.Lease                 // full: every lease
	changes map[netip.Prefix]*subnet.Lease // partial: new lease, nil when removed
	since   map[netip.Prefix]time.Time
	// underlay, when set, must be applied before anything else; it forces
	// a full reconcile.
	underlay *backend.ExternalInterface
}

// take empties the inbox; wantFull asks for the whole lease set even if
// only events arrived.
func (in *inbox) take(wantFull bool) batch {
	in.mu.Lock()
	defer in.mu.Unlock()
	bt := batch{full: wantFull || in.full || in.underlay != nil, underlay: in.underlay}
	in.underlay = nil
	if len(in.since) > 0 {
		bt.since = in.since
		in.since = map[netip.Prefix]time.Time{}
	}
	if bt.full {
		bt.leases = make([]subnet.Lease, 0, len(in.leases))
		for _, l := range in.leases {
			bt.leases = append(bt.leases, l)
		}
	} else if len(in.dirty) > 0 {
		bt.changes = make(map[netip.Prefix]*subnet.Lease, len(in.dirty))
		for sn := range in.dirty {
			if l, ok := in.leases[sn]; ok {
				bt.changes[sn] = &l
			} else {
				bt.changes[sn] = nil
			}
		}
	}
	in.full = false
	clear(in.dirty)
	return bt
}

func sameLease(a, b subnet.Lease) bool {
	return a.Subnet == b.Subnet && a.IPv6Subnet == b.IPv6Subnet &&
		a.Attrs.PublicIP == b.Attrs.PublicIP && a.Attrs.PublicIPv6 == b.Attrs.PublicIPv6 &&
		a.Attrs.BackendType == b.Attrs.BackendType &&
		bytes.Equal(a.Attrs.BackendData, b.Attrs.BackendData) &&
		bytes.Equal(a.Attrs.BackendV6Data, b.Attrs.BackendV6Data)
}
