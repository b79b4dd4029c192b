// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package etcd_test

import (
	"context"
	"errors"
	"testing"

	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/etcd"
	"github.com/weft-net/weft/subnet/etcd/etcdtest"
)

func TestRawConfigAndPutConfigAt(t *testing.T) {
	ctx := context.Background()
	srv := etcdtest.Start(t)
	client := srv.Client(t)
	r := etcd.New(client, testPrefix(t), nullLog())

	if _, _, err := r.RawConfig(ctx); !errors.Is(err, subnet.ErrConfigNotFound) {
		t.Fatalf("RawConfig on an empty store = %v, want ErrConfigNotFound", err)
	}
	const v1 = `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`
	if err := r.PutConfigAt(ctx, []byte(v1), 1); !errors.Is(err, etcd.ErrConfigChanged) {
		t.Fatalf("PutConfigAt(rev 1) on an absent key = %v, want ErrConfigChanged", err)
	}
	if err := r.PutConfigAt(ctx, []byte(v1), 0); err != nil {
		t.Fatalf("PutConfigAt(rev 0) on an absent key: %v", err)
	}
	raw, rev, err := r.RawConfig(ctx)
	if err != nil || string(raw) != v1 || rev == 0 {
		t.Fatalf("RawConfig = %q, %d, %v", raw, rev, err)
	}
	if err := r.PutConfigAt(ctx, []byte(v1), 0); !errors.Is(err, etcd.ErrConfigChanged) {
		t.Errorf("PutConfigAt(rev 0) over an existing key = %v, want ErrConfigChanged", err)
	}
	if err := r.PutConfigAt(ctx, []byte(`{"Network":"10.244.0.0/16"}`), rev); !errors.Is(err, subnet.ErrInvalidConfig) {
		t.Errorf("PutConfigAt with an invalid config = %v, want ErrInvalidConfig", err)
	}
	const v2 = `{"Network":"10.245.0.0/16","Backend":{"Type":"vxlan"}}`
	if err := r.PutConfigAt(ctx, []byte(v2), rev); err != nil {
		t.Fatalf("PutConfigAt at the read revision: %v", err)
	}
	if err := r.PutConfigAt(ctx, []byte(v1), rev); !errors.Is(err, etcd.ErrConfigChanged) {
		t.Errorf("PutConfigAt at a stale revision = %v, want ErrConfigChanged", err)
	}
	// An invalid stored value is returned as written.
	if _, err := client.Put(ctx, r.ConfigKey(), "not json"); err != nil {
		t.Fatal(err)
	}
	if raw, _, err := r.RawConfig(ctx); err != nil || string(raw) != "not json" {
		t.Errorf("RawConfig of an invalid value = %q, %v", raw, err)
	}
}
