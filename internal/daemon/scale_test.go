// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/weft-net/weft/internal/nstest"
	"github.com/weft-net/weft/internal/poll"
	"github.com/weft-net/weft/subnet/etcd"
)

// TestStartJitterAndSerializableLists: a node with --start-jitter and
// serializable watch lists starts, programs the peer that was in etcd
// before it and is programmed by it; a node stopped while it waits out its
// jitter returns cleanly without having written a lease.
func TestStartJitterAndSerializableLists(t *testing.T) {
	nstest.RequireRoot(t)
	e := startEtcd(t, netConf)
	ul := newUnderlay(t)
	nsA, ipA := ul.attach(1)
	a := newNode(t, e, nsA, ipA)
	a.start()
	nsB, ipB := ul.attach(2)
	b := newNode(t, e, nsB, ipB)
	b.opts.StartJitter, b.opts.SerializableLists = time.Second, true
	b.start()
	poll.Until(t, 30*time.Second, "each node routes the other's subnet", func() (bool, string) {
		return a.hasRoute(b.subnet()) && b.hasRoute(a.subnet()), ""
	})

	nsC, ipC := ul.attach(3)
	c := newNode(t, e, nsC, ipC)
	c.opts.StartJitter, c.opts.SerializableLists = 10*time.Minute, true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := logrus.New()
	log.SetOutput(io.Discard)
	go func() { done <- Run(ctx, c.opts, log) }()
	poll.Until(t, 30*time.Second, "node 3 healthy", func() (bool, string) {
		code, body := c.get("/healthz")
		return code == 200, body
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run stopped during its start jitter returned %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of a stop during its start jitter")
	}
	leases, _, err := etcd.New(e.Client(t), prefix, nil).ListLeases(context.Background())
	if err != nil || len(leases) != 2 {
		t.Errorf("leases in etcd after node 3 stopped in its jitter: %v (err %v), want the 2 of nodes 1 and 2", leases, err)
	}
}
