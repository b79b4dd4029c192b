// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Defaults for ManagerOptions.
const (
	DefaultLeaseTTL      = 24 * time.Hour
	DefaultRenewMargin   = time.Hour
	DefaultRenewInterval = time.Minute
	DefaultMaxAttempts   = 30
)

// ManagerOptions configures a Manager. The zero value is usable: every zero
// field takes its default.
type ManagerOptions struct {
	// TTL of the etcd lease a new key is bound to (default 24h, flannel's).
	TTL time.Duration
	// RenewInterval is how often KeepAlive renews the etcd lease. The
	// default is TTL/3, at most DefaultRenewInterval, so a revoked lease is
	// noticed and re-claimed within a minute; it is never more than a third
	// of the lease's actual TTL.
	RenewInterval time.Duration
	// RenewMargin is flannel's --subnet-lease-renew-margin. weft renews far
	// earlier; the margin is only the threshold under which a lease that
	// cannot be renewed (etcd unreachable) is logged as expiring soon.
	// Default 1h; EffectiveRenewMargin fits it to the TTL.
	RenewMargin time.Duration
	// MaxAttempts bounds the create transactions Acquire tries when other
	// nodes win the race for the subnets it picked (default 30).
	MaxAttempts int
	// Log receives the Manager's logs; default: discarded.
	Log logrus.FieldLogger
	// Rand picks among free subnets; default: math/rand/v2's global source.
	// The Manager serializes its use.
	Rand *rand.Rand
}

func (o ManagerOptions) withDefaults() ManagerOptions {
	if o.TTL <= 0 {
		o.TTL = DefaultLeaseTTL
	}
	if o.RenewInterval <= 0 {
		o.RenewInterval = min(o.TTL/3, DefaultRenewInterval)
	}
	o.RenewMargin = EffectiveRenewMargin(o.RenewMargin, o.TTL)
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = l
	}
	return o
}

// AcquireRequest says who is asking for a subnet and what it held before.
type AcquireRequest struct {
	// Attrs is the node's lease value: PublicIP (required with IPv4; it
	// identifies the node's own lease or reservation), PublicIPv6 (required
	// with IPv6; in an IPv6-only network PublicIP is 0.0.0.0 and PublicIPv6
	// identifies the node), BackendType and BackendData (BackendV6Data with
	// IPv6).
	Attrs LeaseAttrs
	// Previous and PreviousIPv6 are the subnets from the node's old
	// subnet.env, reused when still free and valid for the config.
	Previous, PreviousIPv6 netip.Prefix
	// Leases, when set, is a list the caller has just made (ListLeases):
	// the first attempt decides over it instead of listing again, which
	// saves a range request and its decoding on a large cluster. Retries
	// after a lost race always list afresh.
	Leases []Lease
}

// ManagerStats counts what a Manager did, for metrics and benchmarks.
type ManagerStats struct {
	Acquired      uint64    // successful Acquire calls
	Attempts      uint64    // create transactions tried by Acquire
	Conflicts     uint64    // transactions that lost a race to another node
	Reclaims      uint64    // leases re-claimed after their etcd lease was lost
	Renewals      uint64    // successful keep-alives
	RenewFailures uint64    // renewals that failed transiently (etcd unreachable)
	Expiry        time.Time // expiry of the kept-alive lease after its last renewal
	// Lost is true while the etcd lease is known gone and not re-claimed
	// yet; Unreachable while renewals fail (etcd cannot be reached).
	Lost, Unreachable bool
}

// Manager is the leasing logic over a Registry: acquire a subnet (reuse,
// previous, or a free one), keep its etcd lease alive and re-claim it when
// lost, update and release it. It is safe for concurrent use; it keeps no
// lease state of its own beyond counters, so callers pass the Lease around.
type Manager struct {
	reg    Registry
	opts   ManagerOptions
	log    logrus.FieldLogger
	randMu sync.Mutex

	acquired, attempts, conflicts, reclaims, renewFailures, renewals atomic.Uint64
	expiry                                                           atomic.Int64 // unix nanoseconds
	lost, unreachable                                                atomic.Bool
}

// NewManager returns a Manager over reg.
func NewManager(reg Registry, opts ManagerOptions) *Manager {
	opts = opts.withDefaults()
	return &Manager{reg: reg, opts: opts, log: opts.Log}
}

// Stats returns the counters so far.
func (m *Manager) Stats() ManagerStats {
	s := ManagerStats{
		Acquired: m.acquired.Load(), Attempts: m.attempts.Load(), Conflicts: m.conflicts.Load(),
		Reclaims: m.reclaims.Load(), RenewFailures: m.renewFailures.Load(), Renewals: m.renewals.Load(),
		Lost: m.lost.Load(), Unreachable: m.unreachable.Load(),
	}
	if ns := m.expiry.Load(); ns != 0 {
		s.Expiry = time.Unix(0, ns)
	}
	return s
}

func (m *Manager) randN(n uint64) uint64 {
	if m.opts.Rand == nil {
		return rand.Uint64N(n)
	}
	m.randMu.Lock()
	defer m.randMu.Unlock()
	return m.opts.Rand.Uint64N(n)
}

// Acquire returns a lease for the node described by req, in compat.md's
// order: (a) a lease or reservation whose PublicIP is ours and that fits cfg
// (a live lease is renewed and keeps its etcd lease, a reservation gets our
// attributes and stays lease-less); (b) req.Previous if free and valid; (c)
// a free subnet picked at random. Races with other nodes are retried on a
// fresh list, up to MaxAttempts. A full range gives an error wrapping
// ErrNoFreeSubnet; errors from the Registry are returned as they come (the
// caller retries with backoff).
func (m *Manager) Acquire(ctx context.Context, cfg *Config, req AcquireRequest) (Lease, error) {
	if err := checkRequest(cfg, req); err != nil {
		return Lease{}, err
	}
	if !cfg.EnableIPv4 {
		req.Attrs.PublicIP = netip.IPv4Unspecified() // flanneld's "no IPv4"
	}
	var lastErr error
	for attempt := range m.opts.MaxAttempts {
		leases := req.Leases
		if attempt > 0 || leases == nil {
			var err error
			if leases, _, err = m.reg.ListLeases(ctx); err != nil {
				return Lease{}, fmt.Errorf("acquire a subnet: %w", err)
			}
		}
		l, how, err := m.tryAcquire(ctx, cfg, req, leases)
		if err == nil {
			m.acquired.Add(1)
			m.noteExpiry(l)
			m.leaseLog(l).WithField("how", how).Info("lease acquired")
			return l, nil
		}
		if !errors.Is(err, ErrLeaseExists) && !errors.Is(err, ErrLeaseModified) {
			return Lease{}, err
		}
		m.conflicts.Add(1)
		lastErr = err
	}
	return Lease{}, fmt.Errorf("acquire a subnet: other nodes won %d races in a row: %w", m.opts.MaxAttempts, lastErr)
}

func checkRequest(cfg *Config, req AcquireRequest) error {
	if !cfg.EnableIPv4 {
		if ip := req.Attrs.PublicIP; ip.IsValid() && ip != netip.IPv4Unspecified() {
			return fmt.Errorf("acquire a subnet: PublicIP %s in an IPv6-only network: want 0.0.0.0, as flanneld writes", ip)
		}
	} else if !req.Attrs.PublicIP.Is4() {
		return fmt.Errorf("acquire a subnet: PublicIP %q: not an IPv4 address", addrString(req.Attrs.PublicIP))
	}
	if cfg.EnableIPv6 && !req.Attrs.PublicIPv6.Is6() {
		return fmt.Errorf("acquire a subnet: PublicIPv6 missing: required when EnableIPv6 is true")
	}
	return nil
}

// tryAcquire makes one attempt over one list; how says which rule won.
func (m *Manager) tryAcquire(ctx context.Context, cfg *Config, req AcquireRequest, leases []Lease) (Lease, string, error) {
	a := newAllocation(cfg, leases)
	if own, ok := m.findOwn(a, leases, req.Attrs.NodeIP()); ok {
		l, err := m.reuse(ctx, own, req.Attrs)
		if own.Reserved() {
			return l, "reservation", err
		}
		return l, "reused", err
	}
	if sn, sn6, ok := a.previous(req.Previous, req.PreviousIPv6); ok && unused(leases, sn, sn6) {
		l, err := m.create(ctx, sn, sn6, req.Attrs)
		return l, "previous", err
	}
	sn, sn6, ok := a.random(m.randN)
	if !ok {
		return Lease{}, "", a.exhausted()
	}
	l, err := m.create(ctx, sn, sn6, req.Attrs)
	return l, "free", err
}

// findOwn returns the lease or reservation carrying our NodeIP (PublicIP,
// or PublicIPv6 in an IPv6-only network) that fits the config, preferring
// a reservation (the operator's intent) over a lease.
func (m *Manager) findOwn(a *allocation, leases []Lease, ip netip.Addr) (Lease, bool) {
	var found Lease
	ok := false
	for _, l := range leases {
		if l.Attrs.NodeIP() != ip {
			continue
		}
		if !a.fits(l) {
			m.leaseLog(l).Warn("ignoring a lease with our public IP that does not fit the network config")
			continue
		}
		if !ok || (l.Reserved() && !found.Reserved()) {
			found, ok = l, true
		}
	}
	return found, ok
}

// reuse takes over our own lease or reservation with our attributes.
func (m *Manager) reuse(ctx context.Context, own Lease, attrs LeaseAttrs) (Lease, error) {
	if own.Reserved() {
		return m.writeAttrs(ctx, own, attrs)
	}
	ttl, err := m.reg.RenewLease(ctx, own.LeaseID)
	if errors.Is(err, ErrLeaseExpired) {
		// The key went with its etcd lease: claim the same subnet anew.
		return m.create(ctx, own.Subnet, own.IPv6Subnet, attrs)
	}
	if err != nil {
		return Lease{}, fmt.Errorf("renew lease %s: %w", own, err)
	}
	own.Expiration = time.Now().Add(ttl)
	l, err := m.writeAttrs(ctx, own, attrs)
	if errors.Is(err, ErrLeaseExpired) {
		return m.create(ctx, own.Subnet, own.IPv6Subnet, attrs)
	}
	return l, err
}

// writeAttrs stores attrs into l unless they are already there.
func (m *Manager) writeAttrs(ctx context.Context, l Lease, attrs LeaseAttrs) (Lease, error) {
	if attrsEqual(l.Attrs, attrs) {
		return l, nil
	}
	l.Attrs = attrs
	nl, err := m.reg.UpdateLease(ctx, l)
	if err != nil {
		return Lease{}, fmt.Errorf("write attributes into %s: %w", l, err)
	}
	return nl, nil
}

func (m *Manager) create(ctx context.Context, sn, sn6 netip.Prefix, attrs LeaseAttrs) (Lease, error) {
	m.attempts.Add(1)
	return m.reg.CreateLease(ctx, Lease{Subnet: sn, IPv6Subnet: sn6, Attrs: attrs}, m.opts.TTL)
}

func attrsEqual(a, b LeaseAttrs) bool {
	return a.PublicIP == b.PublicIP && a.PublicIPv6 == b.PublicIPv6 && a.BackendType == b.BackendType &&
		bytes.Equal(a.BackendData, b.BackendData) && bytes.Equal(a.BackendV6Data, b.BackendV6Data)
}

// UpdateAttrs writes new attributes (e.g. a changed PublicIP or VTEP MAC)
// into our lease, keeping its etcd lease, and returns the updated lease. A
// concurrent change to our own key is retried on its new revision; a key
// another node now holds gives an error wrapping ErrLeaseTaken. A caller
// running KeepAlive restarts it with the returned lease, so that a later
// re-claim writes the new attributes.
func (m *Manager) UpdateAttrs(ctx context.Context, l Lease, attrs LeaseAttrs) (Lease, error) {
	for range m.opts.MaxAttempts {
		l.Attrs = attrs
		nl, err := m.reg.UpdateLease(ctx, l)
		if !errors.Is(err, ErrLeaseModified) {
			if err != nil {
				return Lease{}, fmt.Errorf("update lease %s: %w", l, err)
			}
			return nl, nil
		}
		cur, err := m.reg.GetLease(ctx, l.Primary())
		if err != nil {
			return Lease{}, fmt.Errorf("update lease %s: %w", l, err)
		}
		if cur.Key() != l.Key() || cur.LeaseID != l.LeaseID {
			return Lease{}, fmt.Errorf("update lease %s: held by %s now: %w", l, cur.Attrs.NodeIP(), ErrLeaseTaken)
		}
		l.ModRevision = cur.ModRevision
	}
	return Lease{}, fmt.Errorf("update lease %s: changed concurrently %d times: %w", l, m.opts.MaxAttempts, ErrLeaseModified)
}

// Release deletes our lease key and revokes its etcd lease, so the subnet
// is free at once (a deliberate action: weftd keeps its lease on a normal
// stop). A reservation is never deleted: it is the operator's, and the node
// keeps it across restarts; releasing one is a no-op. Releasing a lease
// that is already gone succeeds; a key another node holds now is left alone
// and reported (ErrLeaseTaken).
func (m *Manager) Release(ctx context.Context, l Lease) error {
	if l.Reserved() {
		m.leaseLog(l).Info("keeping reservation on release")
		return nil
	}
	if err := m.reg.DeleteLease(ctx, l); err != nil {
		return fmt.Errorf("release lease %s: %w", l, err)
	}
	m.leaseLog(l).Info("lease released")
	return nil
}

func (m *Manager) leaseLog(l Lease) logrus.FieldLogger {
	f := logrus.Fields{"subnet": l.Subnet.String(), "public_ip": addrString(l.Attrs.PublicIP)}
	if l.IPv6Subnet.IsValid() {
		f["ipv6_subnet"] = l.IPv6Subnet.String()
		f["public_ipv6"] = addrString(l.Attrs.PublicIPv6)
	}
	if !l.Subnet.IsValid() {
		delete(f, "subnet") // IPv6-only
	}
	if l.Reserved() {
		f["reserved"] = true
	} else {
		f["lease_id"] = fmt.Sprintf("%x", l.LeaseID)
	}
	return m.log.WithFields(f)
}

func (m *Manager) noteExpiry(l Lease) {
	if !l.Expiration.IsZero() {
		m.expiry.Store(l.Expiration.UnixNano())
	}
}

// Peers returns the leases a node programs as peers: all but its own (same
// key as own) and those that carry no backend data yet (neither
// BackendData nor BackendV6Data), typically a reservation made by an
// operator for a node that is not up; they are skipped quietly. Pure; the
// result is a new slice.
func Peers(leases []Lease, own Lease) []Lease {
	out := make([]Lease, 0, len(leases))
	ownKey := own.Key()
	for _, l := range leases {
		if (own.Primary().IsValid() && l.Key() == ownKey) || (len(l.Attrs.BackendData) == 0 && len(l.Attrs.BackendV6Data) == 0) {
			continue
		}
		out = append(out, l)
	}
	return out
}
