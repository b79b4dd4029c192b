// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package etcd

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/subnet"
)

// ErrConfigChanged means a conditional config write lost a race: the
// config key changed (or appeared) since it was read.
var ErrConfigChanged = errors.New("network config changed since it was read")

// RawConfig returns the stored network config as written, unparsed, and the
// key's ModRevision, so that weftctl can show an invalid config next to the
// validator's error. It returns an error wrapping subnet.ErrConfigNotFound
// when the key is absent. One request.
func (r *Registry) RawConfig(ctx context.Context) ([]byte, int64, error) {
	key := r.ConfigKey()
	ctx, cancel := r.reqCtx(ctx)
	defer cancel()
	resp, err := r.client.Get(ctx, key)
	if err != nil {
		return nil, 0, fmt.Errorf("get config %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, fmt.Errorf("config %s: %w", key, subnet.ErrConfigNotFound)
	}
	return resp.Kvs[0].Value, resp.Kvs[0].ModRevision, nil
}

// PutConfigAt validates raw with subnet.ParseConfig and stores it only if
// the config key's ModRevision still equals rev (0: only if the key is
// absent), so that two operators editing at once cannot silently overwrite
// each other. A lost race is an error wrapping ErrConfigChanged.
func (r *Registry) PutConfigAt(ctx context.Context, raw []byte, rev int64) error {
	key := r.ConfigKey()
	if _, err := subnet.ParseConfig(raw); err != nil {
		return fmt.Errorf("config %s: %w", key, err)
	}
	ctx, cancel := r.reqCtx(ctx)
	defer cancel()
	resp, err := r.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, string(raw))).
		Commit()
	if err != nil {
		return fmt.Errorf("put config %s: %w", key, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("put config %s: %w", key, ErrConfigChanged)
	}
	return nil
}
