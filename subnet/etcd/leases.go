// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/subnet"
)

// decode turns a key-value under SubnetsPrefix into a Lease.
func (r *Registry) decode(kv *mvccpb.KeyValue) (subnet.Lease, error) {
	suffix := strings.TrimPrefix(string(kv.Key), r.SubnetsPrefix())
	sn, sn6, err := subnet.ParseSubnetKey(suffix)
	if err != nil {
		return subnet.Lease{}, err
	}
	var attrs subnet.LeaseAttrs
	if err := json.Unmarshal(kv.Value, &attrs); err != nil {
		return subnet.Lease{}, err
	}
	return subnet.Lease{
		Subnet: sn, IPv6Subnet: sn6, Attrs: attrs,
		LeaseID: kv.Lease, ModRevision: kv.ModRevision, CreateRevision: kv.CreateRevision,
	}, nil
}

func (r *Registry) warnMalformed(kv *mvccpb.KeyValue, err error) {
	r.log.WithFields(logrus.Fields{"key": string(kv.Key), "revision": kv.ModRevision}).WithError(err).
		Warn("skipping malformed lease")
}

// list reads every lease in one range request. It also returns the keys
// it skipped as malformed (canonicalised when the key itself parses), so a
// watcher can keep the last good value of a key whose value went bad.
// serializable reads from the member the client talks to, if it has a
// leader (see SetSerializableLists).
func (r *Registry) list(ctx context.Context, serializable bool) (leases []subnet.Lease, malformed map[string]bool, rev int64, err error) {
	ctx, cancel := r.reqCtx(ctx)
	defer cancel()
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if serializable {
		ctx = clientv3.WithRequireLeader(ctx)
		opts = append(opts, clientv3.WithSerializable())
	}
	resp, err := r.client.Get(ctx, r.SubnetsPrefix(), opts...)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("list leases under %s: %w", r.SubnetsPrefix(), err)
	}
	leases = make([]subnet.Lease, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		l, err := r.decode(kv)
		if err != nil {
			r.warnMalformed(kv, err)
			if sn, sn6, kerr := subnet.ParseSubnetKey(strings.TrimPrefix(string(kv.Key), r.SubnetsPrefix())); kerr == nil {
				if malformed == nil {
					malformed = make(map[string]bool)
				}
				malformed[subnet.SubnetKey(sn, sn6)] = true
			}
			continue
		}
		leases = append(leases, l)
	}
	return leases, malformed, resp.Header.Revision, nil
}

// ListLeases implements subnet.Registry with a linearizable read.
func (r *Registry) ListLeases(ctx context.Context) ([]subnet.Lease, int64, error) {
	leases, _, rev, err := r.list(ctx, false)
	return leases, rev, err
}

// ListLeasesForWatch is ListLeases for a list that WatchLeases will start
// from: serializable when SetSerializableLists is on.
func (r *Registry) ListLeasesForWatch(ctx context.Context) ([]subnet.Lease, int64, error) {
	leases, _, rev, err := r.list(ctx, r.serializable)
	return leases, rev, err
}

// GetLease implements subnet.Registry with one prefix request, which finds
// the single-stack key and a dual-stack key alike. An IPv6 sn names an
// IPv6-only lease, whose key is exact: 0.0.0.0-0&<sn>.
func (r *Registry) GetLease(ctx context.Context, sn netip.Prefix) (subnet.Lease, error) {
	prefix := r.SubnetsPrefix() + subnet.SubnetKey(sn, netip.Prefix{})
	if sn.Addr().Is6() {
		prefix = r.SubnetsPrefix() + subnet.SubnetKey(netip.Prefix{}, sn)
	}
	ctx, cancel := r.reqCtx(ctx)
	defer cancel()
	resp, err := r.client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return subnet.Lease{}, fmt.Errorf("get lease %s: %w", prefix, err)
	}
	for _, kv := range resp.Kvs {
		l, err := r.decode(kv)
		if err != nil {
			r.warnMalformed(kv, err)
			continue
		}
		if l.Primary() == sn {
			return l, nil
		}
	}
	return subnet.Lease{}, fmt.Errorf("get lease %s: %w", prefix, subnet.ErrLeaseNotFound)
}

// LeaseTTL implements subnet.Registry.
func (r *Registry) LeaseTTL(ctx context.Context, leaseID int64) (time.Duration, error) {
	if leaseID == 0 {
		return 0, fmt.Errorf("lease TTL: %w", errNotReservation)
	}
	ctx, cancel := r.reqCtx(ctx)
	defer cancel()
	resp, err := r.client.TimeToLive(ctx, clientv3.LeaseID(leaseID))
	if err != nil {
		return 0, fmt.Errorf("lease TTL of etcd lease %x: %w", leaseID, err)
	}
	if resp.TTL < 0 {
		return 0, fmt.Errorf("lease TTL of etcd lease %x: %w", leaseID, subnet.ErrLeaseExpired)
	}
	return time.Duration(resp.TTL) * time.Second, nil
}

// ttlSeconds rounds a TTL up to etcd's whole seconds.
func ttlSeconds(ttl time.Duration) int64 {
	return max(int64((ttl+time.Second-1)/time.Second), 1)
}

// CreateLease implements subnet.Registry: grant, then a transaction that
// puts the key only if its CreateRevision is 0 (absent).
func (r *Registry) CreateLease(ctx context.Context, l subnet.Lease, ttl time.Duration) (subnet.Lease, error) {
	if !l.Primary().IsValid() {
		return subnet.Lease{}, fmt.Errorf("create lease: no subnet")
	}
	key := r.LeaseKey(l)
	val, err := json.Marshal(l.Attrs)
	if err != nil {
		return subnet.Lease{}, fmt.Errorf("create lease %s: %w", key, err)
	}
	ctx, cancel := r.reqCtx(ctx)
	defer cancel()
	var id clientv3.LeaseID
	var opts []clientv3.OpOption
	var granted time.Duration
	if ttl > 0 {
		g, err := r.client.Grant(ctx, ttlSeconds(ttl))
		if err != nil {
			return subnet.Lease{}, fmt.Errorf("create lease %s: grant etcd lease: %w", key, err)
		}
		id, granted = g.ID, time.Duration(g.TTL)*time.Second
		opts = append(opts, clientv3.WithLease(id))
	}
	resp, err := r.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val), opts...)).
		Commit()
	if err != nil || !resp.Succeeded {
		// Also after an error: the put may have landed; revoking undoes it.
		r.revoke(ctx, id)
	}
	if err != nil {
		return subnet.Lease{}, fmt.Errorf("create lease %s: %w", key, err)
	}
	if !resp.Succeeded {
		return subnet.Lease{}, fmt.Errorf("create lease %s: %w", key, subnet.ErrLeaseExists)
	}
	l.LeaseID, l.ModRevision, l.CreateRevision, l.Expiration = int64(id), resp.Header.Revision, resp.Header.Revision, time.Time{}
	if id != 0 {
		l.Expiration = time.Now().Add(granted)
	}
	return l, nil
}

// revoke revokes an etcd lease on a best-effort basis (it expires anyway),
// also when ctx is already done.
func (r *Registry) revoke(ctx context.Context, id clientv3.LeaseID) {
	if id == 0 {
		return
	}
	ctx, cancel := r.reqCtx(context.WithoutCancel(ctx))
	defer cancel()
	if _, err := r.client.Revoke(ctx, id); err != nil && !isLeaseNotFound(err) {
		r.log.WithField("lease_id", fmt.Sprintf("%x", int64(id))).WithError(err).
			Debug("revoke etcd lease failed; it will expire")
	}
}

// UpdateLease implements subnet.Registry with a compare-and-swap on the
// key's ModRevision.
func (r *Registry) UpdateLease(ctx context.Context, l subnet.Lease) (subnet.Lease, error) {
	key := r.LeaseKey(l)
	if l.ModRevision == 0 {
		return subnet.Lease{}, fmt.Errorf("update lease %s: ModRevision 0 (not read from the registry): %w", key, subnet.ErrLeaseModified)
	}
	val, err := json.Marshal(l.Attrs)
	if err != nil {
		return subnet.Lease{}, fmt.Errorf("update lease %s: %w", key, err)
	}
	var opts []clientv3.OpOption
	if l.LeaseID != 0 {
		opts = append(opts, clientv3.WithLease(clientv3.LeaseID(l.LeaseID)))
	}
	ctx, cancel := r.reqCtx(ctx)
	defer cancel()
	resp, err := r.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", l.ModRevision)).
		Then(clientv3.OpPut(key, string(val), opts...)).
		Commit()
	switch {
	case isLeaseNotFound(err):
		return subnet.Lease{}, fmt.Errorf("update lease %s: %w", key, subnet.ErrLeaseExpired)
	case err != nil:
		return subnet.Lease{}, fmt.Errorf("update lease %s: %w", key, err)
	case !resp.Succeeded:
		return subnet.Lease{}, fmt.Errorf("update lease %s: %w", key, subnet.ErrLeaseModified)
	}
	l.ModRevision = resp.Header.Revision
	return l, nil
}

// RenewLease implements subnet.Registry with one KeepAliveOnce.
func (r *Registry) RenewLease(ctx context.Context, leaseID int64) (time.Duration, error) {
	if leaseID == 0 {
		return 0, fmt.Errorf("renew lease: %w", errNotReservation)
	}
	ctx, cancel := r.reqCtx(ctx)
	defer cancel()
	resp, err := r.client.KeepAliveOnce(ctx, clientv3.LeaseID(leaseID))
	if isLeaseNotFound(err) {
		return 0, fmt.Errorf("renew etcd lease %x: %w", leaseID, subnet.ErrLeaseExpired)
	}
	if err != nil {
		return 0, fmt.Errorf("renew etcd lease %x: %w", leaseID, err)
	}
	return time.Duration(resp.TTL) * time.Second, nil
}

// DeleteLease implements subnet.Registry: the delete is conditional on the
// key still being bound to l's etcd lease (or, for a reservation, still at
// l's ModRevision); the etcd lease is revoked afterwards.
func (r *Registry) DeleteLease(ctx context.Context, l subnet.Lease) error {
	key := r.LeaseKey(l)
	cmp := clientv3.Compare(clientv3.ModRevision(key), "=", l.ModRevision)
	if l.LeaseID != 0 {
		cmp = clientv3.Compare(clientv3.LeaseValue(key), "=", clientv3.LeaseID(l.LeaseID))
	}
	ctx, cancel := r.reqCtx(ctx)
	defer cancel()
	resp, err := r.client.Txn(ctx).If(cmp).Then(clientv3.OpDelete(key)).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return fmt.Errorf("delete lease %s: %w", key, err)
	}
	if !resp.Succeeded {
		if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
			return r.notOurs(key, l, kvs[0])
		}
	}
	r.revoke(ctx, clientv3.LeaseID(l.LeaseID))
	return nil
}

func (r *Registry) notOurs(key string, l subnet.Lease, kv *mvccpb.KeyValue) error {
	if l.LeaseID == 0 {
		return fmt.Errorf("delete reservation %s: %w", key, subnet.ErrLeaseModified)
	}
	holder := "an unreadable value"
	if cur, err := r.decode(kv); err == nil {
		holder = "node " + cur.Attrs.NodeIP().String()
	}
	return fmt.Errorf("delete lease %s: %s holds it now (etcd lease %x, ours was %x): %w",
		key, holder, kv.Lease, l.LeaseID, subnet.ErrLeaseTaken)
}
