// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package subnettest provides FakeRegistry, an in-memory subnet.Registry
// with etcd's semantics (revisions, create-if-absent, compare-and-swap,
// leases that expire, watches that resync after compaction), and
// RunRegistryConformance, the suite that holds the fake and the etcd
// Registry to the same behaviour. Test code only.
package subnettest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/weft-net/weft/subnet"
)

// ErrUnavailable is what every FakeRegistry method returns while SetDown(true).
var ErrUnavailable = errors.New("fake registry: unavailable")

// FakeRegistry is an in-memory subnet.Registry. Expiry follows time.Now, so
// tests may run it under testing/synctest. The zero value is not usable;
// call NewFakeRegistry. Safe for concurrent use.
type FakeRegistry struct {
	mu        sync.Mutex
	changed   chan struct{} // closed and replaced on every change
	rev       int64
	compacted int64 // watches from revisions up to this one must resync
	down      bool
	config    []byte
	keys      map[string]subnet.Lease // by Lease.Key(), with LeaseID and ModRevision
	leases    map[int64]*fakeLease
	nextID    int64
	history   []fakeChange
	calls     map[string]int
}

type fakeLease struct {
	ttl    time.Duration
	expiry time.Time
}

type fakeChange struct {
	rev int64
	ev  subnet.Event
}

var _ subnet.Registry = (*FakeRegistry)(nil)

// NewFakeRegistry returns an empty registry at revision 1.
func NewFakeRegistry() *FakeRegistry {
	return &FakeRegistry{
		changed: make(chan struct{}), rev: 1, nextID: 0x1000,
		keys: make(map[string]subnet.Lease), leases: make(map[int64]*fakeLease), calls: make(map[string]int),
	}
}

// begin locks, counts the call, expires due leases and fails while down.
// On success the caller holds f.mu.
func (f *FakeRegistry) begin(method string) error {
	f.mu.Lock()
	f.calls[method]++
	if f.down {
		f.mu.Unlock()
		return fmt.Errorf("%s: %w", method, ErrUnavailable)
	}
	f.expireLocked(time.Now())
	return nil
}

func (f *FakeRegistry) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// expireLocked deletes the keys of expired leases, one revision per lease as
// etcd does when its lessor revokes a lease.
func (f *FakeRegistry) expireLocked(now time.Time) {
	for id, fl := range f.leases {
		if !now.Before(fl.expiry) {
			f.revokeLocked(id)
		}
	}
}

func (f *FakeRegistry) revokeLocked(id int64) {
	delete(f.leases, id)
	var gone []subnet.Lease
	for _, l := range f.keys {
		if l.LeaseID == id {
			gone = append(gone, l)
		}
	}
	if len(gone) == 0 {
		return
	}
	f.rev++
	for _, l := range gone {
		delete(f.keys, l.Key())
		f.history = append(f.history, fakeChange{f.rev, subnet.RemovedEvent(l)})
	}
	f.notifyLocked()
}

func (f *FakeRegistry) putLocked(l subnet.Lease) subnet.Lease {
	f.rev++
	l.ModRevision = f.rev
	l.CreateRevision = f.rev
	if cur, ok := f.keys[l.Key()]; ok {
		l.CreateRevision = cur.CreateRevision
	}
	l.Expiration = time.Time{}
	f.keys[l.Key()] = l
	f.history = append(f.history, fakeChange{f.rev, subnet.Event{Type: subnet.EventAdded, Lease: l}})
	f.notifyLocked()
	return l
}

// GetConfig implements subnet.Registry.
func (f *FakeRegistry) GetConfig(context.Context) (*subnet.Config, error) {
	if err := f.begin("GetConfig"); err != nil {
		return nil, err
	}
	raw := f.config
	f.mu.Unlock()
	if raw == nil {
		return nil, fmt.Errorf("config fake/config: %w", subnet.ErrConfigNotFound)
	}
	cfg, err := subnet.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("config fake/config: %w", err)
	}
	return cfg, nil
}

// PutConfig implements subnet.Registry.
func (f *FakeRegistry) PutConfig(_ context.Context, raw []byte) error {
	if _, err := subnet.ParseConfig(raw); err != nil {
		return fmt.Errorf("config fake/config: %w", err)
	}
	if err := f.begin("PutConfig"); err != nil {
		return err
	}
	defer f.mu.Unlock()
	f.rev++
	f.config = slices.Clone(raw)
	return nil
}

// ListLeases implements subnet.Registry.
func (f *FakeRegistry) ListLeases(context.Context) ([]subnet.Lease, int64, error) {
	if err := f.begin("ListLeases"); err != nil {
		return nil, 0, err
	}
	defer f.mu.Unlock()
	return f.snapshotLocked(), f.rev, nil
}

func (f *FakeRegistry) snapshotLocked() []subnet.Lease {
	out := make([]subnet.Lease, 0, len(f.keys))
	for _, l := range f.keys {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b subnet.Lease) int { return strings.Compare(a.Key(), b.Key()) })
	return out
}

// GetLease implements subnet.Registry.
func (f *FakeRegistry) GetLease(_ context.Context, sn netip.Prefix) (subnet.Lease, error) {
	if err := f.begin("GetLease"); err != nil {
		return subnet.Lease{}, err
	}
	defer f.mu.Unlock()
	for _, l := range f.snapshotLocked() {
		if l.Primary() == sn {
			return l, nil
		}
	}
	return subnet.Lease{}, fmt.Errorf("get lease %s: %w", sn, subnet.ErrLeaseNotFound)
}

// LeaseTTL implements subnet.Registry.
func (f *FakeRegistry) LeaseTTL(_ context.Context, leaseID int64) (time.Duration, error) {
	if err := f.begin("LeaseTTL"); err != nil {
		return 0, err
	}
	defer f.mu.Unlock()
	fl, ok := f.leases[leaseID]
	if !ok {
		return 0, fmt.Errorf("lease TTL of %x: %w", leaseID, subnet.ErrLeaseExpired)
	}
	return time.Until(fl.expiry).Truncate(time.Second), nil
}

// CreateLease implements subnet.Registry.
func (f *FakeRegistry) CreateLease(_ context.Context, l subnet.Lease, ttl time.Duration) (subnet.Lease, error) {
	if !l.Primary().IsValid() {
		return subnet.Lease{}, fmt.Errorf("create lease: no subnet")
	}
	if _, err := json.Marshal(l.Attrs); err != nil {
		return subnet.Lease{}, fmt.Errorf("create lease %s: %w", l, err)
	}
	if err := f.begin("CreateLease"); err != nil {
		return subnet.Lease{}, err
	}
	defer f.mu.Unlock()
	if _, ok := f.keys[l.Key()]; ok {
		return subnet.Lease{}, fmt.Errorf("create lease %s: %w", l, subnet.ErrLeaseExists)
	}
	l.LeaseID = 0
	var exp time.Time
	if ttl > 0 {
		f.nextID++
		l.LeaseID = f.nextID
		exp = time.Now().Add(ttl)
		f.leases[l.LeaseID] = &fakeLease{ttl: ttl, expiry: exp}
	}
	l = f.putLocked(l)
	l.Expiration = exp
	return l, nil
}

// UpdateLease implements subnet.Registry.
func (f *FakeRegistry) UpdateLease(_ context.Context, l subnet.Lease) (subnet.Lease, error) {
	if err := f.begin("UpdateLease"); err != nil {
		return subnet.Lease{}, err
	}
	defer f.mu.Unlock()
	cur, ok := f.keys[l.Key()]
	if !ok || l.ModRevision == 0 || cur.ModRevision != l.ModRevision {
		return subnet.Lease{}, fmt.Errorf("update lease %s: %w", l, subnet.ErrLeaseModified)
	}
	if _, ok := f.leases[l.LeaseID]; l.LeaseID != 0 && !ok {
		return subnet.Lease{}, fmt.Errorf("update lease %s: %w", l, subnet.ErrLeaseExpired)
	}
	exp := l.Expiration
	l = f.putLocked(l)
	l.Expiration = exp
	return l, nil
}

// RenewLease implements subnet.Registry.
func (f *FakeRegistry) RenewLease(_ context.Context, leaseID int64) (time.Duration, error) {
	if err := f.begin("RenewLease"); err != nil {
		return 0, err
	}
	defer f.mu.Unlock()
	fl, ok := f.leases[leaseID]
	if !ok {
		return 0, fmt.Errorf("renew lease %x: %w", leaseID, subnet.ErrLeaseExpired)
	}
	fl.expiry = time.Now().Add(fl.ttl)
	return fl.ttl, nil
}

// DeleteLease implements subnet.Registry.
func (f *FakeRegistry) DeleteLease(_ context.Context, l subnet.Lease) error {
	if err := f.begin("DeleteLease"); err != nil {
		return err
	}
	defer f.mu.Unlock()
	cur, ok := f.keys[l.Key()]
	switch {
	case ok && l.LeaseID == 0 && cur.ModRevision != l.ModRevision:
		return fmt.Errorf("delete reservation %s: %w", l, subnet.ErrLeaseModified)
	case ok && cur.LeaseID != l.LeaseID:
		return fmt.Errorf("delete lease %s: node %s holds it now: %w", l, cur.Attrs.PublicIP, subnet.ErrLeaseTaken)
	case ok:
		f.rev++
		delete(f.keys, l.Key())
		f.history = append(f.history, fakeChange{f.rev, subnet.RemovedEvent(cur)})
		f.notifyLocked()
	}
	delete(f.leases, l.LeaseID)
	return nil
}
