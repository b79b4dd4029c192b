// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package etcdtest

import (
	"context"
	"testing"
	"time"
)

func TestStartRestartKeepsData(t *testing.T) {
	s := Start(t)
	c := s.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, "/k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Restart(t)
	r, err := c.Get(ctx, "/k")
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "v" {
		t.Fatalf("after restart got %v", r.Kvs)
	}
	rev := s.Compact(t)
	if rev < r.Header.Revision {
		t.Errorf("compacted at %d, before the last read revision %d", rev, r.Header.Revision)
	}
}
