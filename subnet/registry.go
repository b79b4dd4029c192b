// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Sentinel errors; compare with errors.Is.
var (
	ErrConfigNotFound = errors.New("network config not found")
	ErrLeaseExists    = errors.New("lease key already exists")
	ErrLeaseNotFound  = errors.New("lease not found")
	ErrNoFreeSubnet   = errors.New("no free subnet")
	// ErrLeaseTaken means the subnet we held is now leased by another node.
	ErrLeaseTaken = errors.New("subnet taken by another node")
	// ErrLeaseExpired means the etcd lease (the TTL a key is bound to) no
	// longer exists: it expired or was revoked, and its key is gone with it.
	ErrLeaseExpired = errors.New("etcd lease expired or revoked")
	// ErrLeaseModified means a compare-and-swap on a lease key failed: the
	// key changed (or was deleted) since the Lease value was read.
	ErrLeaseModified = errors.New("lease key changed since it was read")
)

// Registry is the store of the network config and the leases: etcd in
// production (subnet/etcd), subnettest.FakeRegistry in tests. It holds no
// policy; the Manager decides what to create, update or delete. Every method
// is safe for concurrent use and blocks at most until ctx is done (the etcd
// implementation also bounds each request with its own timeout).
//
// Leases are identified by their subnet key (Lease.Key). Writes never
// overwrite a key blindly: creation succeeds only when the key is absent,
// updates and deletes compare the key's revision or etcd lease first.
type Registry interface {
	// GetConfig reads and parses the network config. It returns an error
	// wrapping ErrConfigNotFound when the key is absent, and an error naming
	// the key and the JSON key when the config is invalid.
	GetConfig(ctx context.Context) (*Config, error)
	// PutConfig validates raw with ParseConfig and stores it as the network
	// config, unconditionally (an operator action, used by weftctl).
	PutConfig(ctx context.Context, raw []byte) error

	// ListLeases returns every lease, sorted by key, with the store revision
	// the snapshot was taken at (the revision to watch from). It is one
	// request: LeaseID and ModRevision are filled in, Expiration is not.
	// Malformed keys or values are skipped with a warning naming the key.
	ListLeases(ctx context.Context) ([]Lease, int64, error)
	// GetLease returns the lease whose IPv4 subnet is sn, whether its key is
	// single or dual stack, or for an IPv6 sn the IPv6-only lease of that
	// subnet (see Lease.Primary); an error wrapping ErrLeaseNotFound when
	// absent.
	GetLease(ctx context.Context, sn netip.Prefix) (Lease, error)
	// LeaseTTL returns the remaining time to live of an etcd lease, or an
	// error wrapping ErrLeaseExpired. One request; meant for weftctl.
	LeaseTTL(ctx context.Context, leaseID int64) (time.Duration, error)

	// CreateLease creates l's key only if it does not exist, bound to a new
	// etcd lease of the given TTL; ttl 0 creates a reservation (no etcd
	// lease). It returns l with LeaseID, ModRevision and Expiration filled
	// in, or an error wrapping ErrLeaseExists when the key is taken (the etcd
	// lease granted for the attempt is revoked).
	CreateLease(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	// UpdateLease writes l.Attrs if the key's ModRevision still equals
	// l.ModRevision, keeping the key bound to l.LeaseID (none for a
	// reservation). It returns the lease with its new ModRevision, or an
	// error wrapping ErrLeaseModified (the key changed or is gone) or
	// ErrLeaseExpired (l.LeaseID no longer exists).
	UpdateLease(ctx context.Context, l Lease) (Lease, error)
	// RenewLease keeps an etcd lease alive once (a single keep-alive) and
	// returns its TTL. Loss is reported as an error wrapping ErrLeaseExpired,
	// distinct from transient errors (etcd unreachable, timeouts), which the
	// caller retries.
	RenewLease(ctx context.Context, leaseID int64) (time.Duration, error)
	// DeleteLease deletes l's key only if it is still l: the same etcd lease
	// (or, for a reservation, the same ModRevision), then revokes l's etcd
	// lease. Deleting a key that is already gone succeeds. If another node
	// now holds the key it returns an error wrapping ErrLeaseTaken (or
	// ErrLeaseModified for a reservation changed since it was read).
	DeleteLease(ctx context.Context, l Lease) error

	// WatchLeases delivers changes after revision rev to fn, in order and in
	// batches, until ctx is done (then it returns nil). known is the lease
	// set as of rev (as returned by ListLeases). After a compaction, a broken
	// watch or an etcd restart it re-lists and delivers the difference to the
	// set it tracks, then keeps watching; it reconnects with backoff and
	// never gives up. A malformed value is skipped with a warning naming its
	// key. fn runs on the watching goroutine, never concurrently with itself,
	// and never with an empty batch.
	WatchLeases(ctx context.Context, known []Lease, rev int64, fn func([]Event)) error
}

// EventType says what happened to a lease.
type EventType int

// Event types. Added also covers a changed value (the new lease replaces the old).
const (
	EventAdded EventType = iota + 1
	EventRemoved
)

func (t EventType) String() string {
	switch t {
	case EventAdded:
		return "added"
	case EventRemoved:
		return "removed"
	}
	return "unknown"
}

// Event is one change to the set of leases. For EventRemoved only the
// subnets of Lease are meaningful.
type Event struct {
	Type  EventType
	Lease Lease
}

// RemovedEvent is the event for l's removal. It carries l's subnets only:
// a watcher need not remember more of every lease it saw than that.
func RemovedEvent(l Lease) Event {
	return Event{Type: EventRemoved, Lease: Lease{Subnet: l.Subnet, IPv6Subnet: l.IPv6Subnet}}
}

// DiffLeases returns the events that turn the lease set old into cur:
// Removed for keys only in old, then Added for keys new in cur or whose
// lease changed (value, etcd lease or revision), each group sorted by key.
// Registries use it to resynchronise a watcher after a re-list. Pure.
func DiffLeases(old, cur []Lease) []Event {
	byKey := make(map[string]Lease, len(old))
	for _, l := range old {
		byKey[l.Key()] = l
	}
	var added []Event
	for _, l := range cur {
		k := l.Key()
		prev, ok := byKey[k]
		delete(byKey, k)
		if ok && leaseEqual(prev, l) {
			continue
		}
		added = append(added, Event{Type: EventAdded, Lease: l})
	}
	removed := make([]Event, 0, len(byKey)+len(added))
	for _, l := range byKey {
		removed = append(removed, RemovedEvent(l))
	}
	slices.SortFunc(removed, func(a, b Event) int { return strings.Compare(a.Lease.Key(), b.Lease.Key()) })
	slices.SortFunc(added, func(a, b Event) int { return strings.Compare(a.Lease.Key(), b.Lease.Key()) })
	return append(removed, added...)
}

func leaseEqual(a, b Lease) bool {
	return a.ModRevision == b.ModRevision && a.LeaseID == b.LeaseID && attrsEqual(a.Attrs, b.Attrs)
}
