// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package etcd implements subnet.Registry over etcd v3, with flannel's
// schema: the network config at <prefix>/config and one key per lease at
// <prefix>/subnets/<key> (see Documentation/etcd.md).
//
// Invariants: writes are transactions that never overwrite a key blindly
// (create-if-absent, compare-and-swap on the key's revision or etcd lease);
// a lease list is one range request; every request is bounded by a timeout
// derived from the caller's ctx; a malformed key or value is skipped with a
// warning naming it, never failing a list or a watch. This is the only
// package that imports the etcd client.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/subnet"
)

// DefaultPrefix is flannel's default etcd prefix (--etcd-prefix).
const DefaultPrefix = "/coreos.com/network"

// DefaultRequestTimeout bounds each etcd request made by a Registry.
const DefaultRequestTimeout = 10 * time.Second

// Registry is a subnet.Registry over an etcd v3 client. It is safe for
// concurrent use and holds no state besides its configuration; the client
// stays the caller's to close.
type Registry struct {
	client  *clientv3.Client
	prefix  string // without a trailing slash
	log     logrus.FieldLogger
	timeout time.Duration
	// serializable makes the lists a watch starts from serializable reads
	// (SetSerializableLists).
	serializable bool
	// watchRestarts counts re-lists after a broken watch, for metrics.
	watchRestarts atomic.Uint64
}

// SetSerializableLists makes the lists that a lease watch starts from
// (ListLeasesForWatch, and WatchLeases' re-list after a compaction) serializable
// reads: the member a client is connected to answers from its own store
// without asking the leader, so a fleet's lists spread over every member
// and cost each less (Documentation/scale.md). They still require a leader,
// so a member cut off from its cluster refuses instead of serving an old
// store. A list that is a few milliseconds behind is complete for a watch:
// the watch starts at the list's revision and delivers everything after
// it. ListLeases, which subnet allocation decides on, stays linearizable.
// Call it before the Registry is used.
func (r *Registry) SetSerializableLists(on bool) { r.serializable = on }

// WatchRestarts returns how many times WatchLeases had to re-list (its
// revision was compacted away).
func (r *Registry) WatchRestarts() uint64 { return r.watchRestarts.Load() }

var _ subnet.Registry = (*Registry)(nil)

// New returns a Registry storing under prefix ("" means DefaultPrefix; a
// trailing slash is ignored). log may be nil (logs discarded).
func New(client *clientv3.Client, prefix string, log logrus.FieldLogger) *Registry {
	prefix = strings.TrimRight(prefix, "/")
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = l
	}
	return &Registry{client: client, prefix: prefix, log: log, timeout: DefaultRequestTimeout}
}

// Prefix returns the etcd prefix the Registry stores under.
func (r *Registry) Prefix() string { return r.prefix }

// ConfigKey returns the etcd key of the network config.
func (r *Registry) ConfigKey() string { return r.prefix + "/config" }

// SubnetsPrefix returns the etcd key prefix of the leases, with its trailing slash.
func (r *Registry) SubnetsPrefix() string { return r.prefix + "/subnets/" }

// LeaseKey returns the etcd key of a lease.
func (r *Registry) LeaseKey(l subnet.Lease) string { return r.SubnetsPrefix() + l.Key() }

// reqCtx bounds one request.
func (r *Registry) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}

// GetConfig implements subnet.Registry. Unknown keys in the config are
// logged at Warn so typos show, without rejecting the config.
func (r *Registry) GetConfig(ctx context.Context) (*subnet.Config, error) {
	key := r.ConfigKey()
	ctx, cancel := r.reqCtx(ctx)
	defer cancel()
	resp, err := r.client.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("get config %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("config %s: %w", key, subnet.ErrConfigNotFound)
	}
	raw := resp.Kvs[0].Value
	cfg, err := subnet.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", key, err)
	}
	if unknown := subnet.UnknownKeys(raw); len(unknown) > 0 {
		r.log.WithFields(logrus.Fields{"key": key, "unknown_keys": strings.Join(unknown, ",")}).
			Warn("network config has keys weft does not know; ignoring them")
	}
	return cfg, nil
}

// PutConfig implements subnet.Registry.
func (r *Registry) PutConfig(ctx context.Context, raw []byte) error {
	key := r.ConfigKey()
	if _, err := subnet.ParseConfig(raw); err != nil {
		return fmt.Errorf("config %s: %w", key, err)
	}
	ctx, cancel := r.reqCtx(ctx)
	defer cancel()
	if _, err := r.client.Put(ctx, key, string(raw)); err != nil {
		return fmt.Errorf("put config %s: %w", key, err)
	}
	return nil
}

// isLeaseNotFound reports whether err is etcd's "requested lease not found".
func isLeaseNotFound(err error) bool { return errors.Is(err, rpctypes.ErrLeaseNotFound) }

// errNotReservation guards the etcd-lease methods against LeaseID 0.
var errNotReservation = errors.New("a reservation has no etcd lease")
