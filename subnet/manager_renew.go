// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sirupsen/logrus"
)

// Retry delays while etcd is unreachable: they double from minRetry up to
// maxRetry (and never beyond the renewal interval), each with ±25 % jitter
// so that thousands of nodes do not renew in lockstep when etcd returns.
// maxRetry is short because a blocked renewal resumes as soon as the
// client reconnects: the retry delay only bounds how late a failed
// attempt is repeated, and a lease must not expire waiting for it.
const (
	minRetry = 200 * time.Millisecond
	maxRetry = 2 * time.Second
)

// KeepAlive keeps l's etcd lease alive until ctx is done, then returns nil.
// It renews every RenewInterval (at most a third of the lease's TTL). If the
// etcd lease is lost (expired during an outage, revoked by hand) it re-claims
// the same subnet with a create-if-absent transaction and calls onChange with
// the new Lease (onChange may be nil); if another node holds the subnet now it
// returns an error wrapping ErrLeaseTaken that names both nodes. Through etcd
// outages it retries with backoff and never returns, logging once per outage
// and warning when the lease's remaining TTL drops under RenewMargin. A
// reservation has nothing to renew: KeepAlive just waits for ctx.
func (m *Manager) KeepAlive(ctx context.Context, l Lease, onChange func(Lease)) error {
	k := &keeper{m: m, lease: l, onChange: onChange, expiry: l.Expiration, interval: m.opts.RenewInterval}
	if !l.Expiration.IsZero() {
		// The lease may have a shorter TTL than ours (reused): renew within it.
		k.interval = min(k.interval, max(time.Until(l.Expiration)/3, time.Second))
	}
	return k.run(ctx)
}

// keeper is the state of one KeepAlive call.
type keeper struct {
	m        *Manager
	lease    Lease
	onChange func(Lease)
	interval time.Duration
	expiry   time.Time // zero when unknown
	failures int       // consecutive transient failures
	warned   bool      // "expiring soon" logged for this outage
}

func (k *keeper) run(ctx context.Context) error {
	wait := k.interval
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		if k.lease.Reserved() {
			<-ctx.Done()
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		err := k.renew(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrLeaseTaken):
			k.log().WithError(err).Error("lease lost to another node")
			return err
		case err != nil:
			wait = k.failed(err)
		default:
			wait = k.interval
		}
		timer.Reset(wait)
	}
}

// renew keeps the etcd lease alive once, re-claiming the subnet if the
// etcd lease is gone.
func (k *keeper) renew(ctx context.Context) error {
	ttl, err := k.m.reg.RenewLease(ctx, k.lease.LeaseID)
	if errors.Is(err, ErrLeaseExpired) {
		k.log().Warn("etcd lease lost, re-claiming the same subnet")
		k.m.lost.Store(true)
		nl, err := k.m.reclaim(ctx, k.lease)
		if err != nil {
			return err
		}
		k.m.lost.Store(false)
		k.lease = nl
		k.expiry = nl.Expiration
		k.recovered()
		if k.onChange != nil {
			k.onChange(nl)
		}
		return nil
	}
	if err != nil {
		return err
	}
	k.expiry = time.Now().Add(ttl)
	k.m.expiry.Store(k.expiry.UnixNano())
	k.m.renewals.Add(1)
	// A reused lease may carry a shorter TTL than ours: renew well within it.
	k.interval = min(k.m.opts.RenewInterval, max(ttl/3, time.Second))
	k.recovered()
	return nil
}

func (k *keeper) recovered() {
	k.m.unreachable.Store(false)
	if k.failures > 0 {
		k.log().WithField("attempts", k.failures+1).Info("lease renewal recovered")
	}
	k.failures, k.warned = 0, false
}

// failed handles a transient failure and returns the delay before retrying.
func (k *keeper) failed(err error) time.Duration {
	k.failures++
	k.m.renewFailures.Add(1)
	k.m.unreachable.Store(true)
	log := k.log().WithError(err)
	if k.failures == 1 {
		log.Warn("lease renewal failing, retrying with backoff")
	} else {
		log.WithField("attempts", k.failures).Debug("lease renewal failed again")
	}
	if !k.expiry.IsZero() && !k.warned {
		if left := time.Until(k.expiry); left < k.m.opts.RenewMargin {
			log.WithField("remaining", left.Round(time.Second).String()).Warn("lease expiring soon")
			k.warned = true
		}
	}
	d := min(minRetry<<min(k.failures-1, 16), maxRetry, k.interval)
	return jitter(d)
}

func (k *keeper) log() logrus.FieldLogger { return k.m.leaseLog(k.lease) }

// reclaim claims l's subnet again after its etcd lease was lost. It adopts
// a key that carries our PublicIP (a reservation made meanwhile, or our own
// key written by another run) and refuses one held by another node.
func (m *Manager) reclaim(ctx context.Context, l Lease) (Lease, error) {
	cur, err := m.reg.GetLease(ctx, l.Primary())
	switch {
	case errors.Is(err, ErrLeaseNotFound):
		nl, err := m.create(ctx, l.Subnet, l.IPv6Subnet, l.Attrs)
		if errors.Is(err, ErrLeaseExists) {
			// Lost the race; the next renewal looks at who won.
			m.conflicts.Add(1)
			return Lease{}, fmt.Errorf("re-claim %s: %w", l, err)
		}
		if err != nil {
			return Lease{}, fmt.Errorf("re-claim %s: %w", l, err)
		}
		m.reclaims.Add(1)
		m.noteExpiry(nl)
		m.leaseLog(nl).Info("lease re-claimed")
		return nl, nil
	case err != nil:
		return Lease{}, fmt.Errorf("re-claim %s: %w", l, err)
	}
	if cur.Attrs.NodeIP() != l.Attrs.NodeIP() || (cur.Key() != l.Key() && !cur.Reserved()) {
		return Lease{}, fmt.Errorf("re-claim subnet %s: node %s lost it, node %s holds it now (key %s): %w",
			l.Primary(), l.Attrs.NodeIP(), addrString(cur.Attrs.NodeIP()), cur.Key(), ErrLeaseTaken)
	}
	nl, err := m.reuse(ctx, cur, l.Attrs)
	if err != nil {
		return Lease{}, fmt.Errorf("re-claim %s: %w", l, err)
	}
	m.reclaims.Add(1)
	m.leaseLog(nl).Info("lease re-claimed: adopted the key carrying our public IP")
	return nl, nil
}

// jitter spreads d by ±25 %.
func jitter(d time.Duration) time.Duration {
	return d*3/4 + rand.N(d/2+1)
}
