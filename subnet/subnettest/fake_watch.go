// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnettest

import (
	"context"
	"time"

	"github.com/weft-net/weft/subnet"
)

// WatchLeases implements subnet.Registry. Like the etcd Registry it
// delivers the history after rev in order, re-lists and delivers the
// difference when rev was compacted away, and waits out an outage
// (SetDown) without returning.
func (f *FakeRegistry) WatchLeases(ctx context.Context, known []subnet.Lease, rev int64, fn func([]subnet.Event)) error {
	state := make(map[string]subnet.Lease, len(known))
	for _, l := range known {
		state[l.Key()] = l
	}
	for {
		batch, wake, next := f.pending(state, &rev)
		if len(batch) > 0 {
			fn(batch)
		}
		if !f.wait(ctx, wake, next) {
			return nil
		}
	}
}

// wait blocks until a change, the next expiry or the end of ctx (false).
func (f *FakeRegistry) wait(ctx context.Context, wake <-chan struct{}, next time.Time) bool {
	var timer <-chan time.Time
	if !next.IsZero() {
		t := time.NewTimer(time.Until(next))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-wake:
	case <-timer:
	}
	return true
}

// pending returns what a watcher at *rev has to deliver (updating state
// and *rev), the channel closed on the next change, and the next lease
// expiry (zero if none) at which the watcher must look again.
func (f *FakeRegistry) pending(state map[string]subnet.Lease, rev *int64) ([]subnet.Event, <-chan struct{}, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["WatchLeases"]++
	if f.down {
		return nil, f.changed, time.Time{}
	}
	f.expireLocked(time.Now())
	var next time.Time
	for _, fl := range f.leases {
		if next.IsZero() || fl.expiry.Before(next) {
			next = fl.expiry
		}
	}
	var batch []subnet.Event
	if *rev < f.compacted {
		old := make([]subnet.Lease, 0, len(state))
		for _, l := range state {
			old = append(old, l)
		}
		cur := f.snapshotLocked()
		batch = subnet.DiffLeases(old, cur)
		clear(state)
		for _, l := range cur {
			state[l.Key()] = l
		}
	} else {
		for _, c := range f.history {
			if c.rev <= *rev {
				continue
			}
			if c.ev.Type == subnet.EventAdded {
				state[c.ev.Lease.Key()] = c.ev.Lease
			} else {
				delete(state, c.ev.Lease.Key())
			}
			batch = append(batch, c.ev)
		}
	}
	*rev = f.rev
	return batch, f.changed, next
}

// ExpireLease ends an etcd lease now, as if its TTL ran out: its key is
// deleted and watchers see it Removed. A no-op for an unknown lease.
func (f *FakeRegistry) ExpireLease(leaseID int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.revokeLocked(leaseID)
	delete(f.leases, leaseID)
}

// SetDown simulates an etcd outage: while down every method but WatchLeases
// fails with ErrUnavailable, watches deliver nothing, and leases do not
// expire (etcd's lessor extends them when a leader returns).
func (f *FakeRegistry) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
	if !down {
		// Like etcd's leader promotion: every lease gets its full TTL again.
		for _, fl := range f.leases {
			fl.expiry = time.Now().Add(fl.ttl)
		}
	}
	f.notifyLocked()
}

// Compact drops the change history: watchers behind the current revision
// re-list and receive the difference, as after an etcd compaction.
func (f *FakeRegistry) Compact() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.compacted = f.rev
	f.history = nil
}

// Revision returns the current revision.
func (f *FakeRegistry) Revision() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rev
}

// Calls returns how many times a method (e.g. "RenewLease") was called.
func (f *FakeRegistry) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}
