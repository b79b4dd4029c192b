// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/etcd"
	"github.com/weft-net/weft/subnet/etcd/etcdtest"
)

// TestOwnWriteNotDefended: the watch sees our key's new value (a new
// PublicIP) before the write that made it has returned, and the check of
// our key that follows (onOwnChanged) runs meanwhile. It must wait for
// the write and find the key holding our value, not take it for someone
// else's and write the old PublicIP back: under load that left a node
// announcing its old address (the daemon test "new public IP moves the
// lease" failed on it).
func TestOwnWriteNotDefended(t *testing.T) {
	e := etcdtest.Start(t)
	log, hook := test.NewNullLogger()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg := etcd.New(e.Client(t), prefix, log)
	d := &daemon{log: log, metrics: newMetrics(), ready: newReadiness(), reg: reg, leaseKey: reg.LeaseKey,
		ownRemoved: make(chan struct{}, 1), ownChanged: make(chan struct{}, 1), leaseUpdated: make(chan struct{}, 1)}
	d.mgr = subnet.NewManager(reg, subnet.ManagerOptions{TTL: time.Hour, Log: log})
	cfg, err := subnet.ParseConfig([]byte(`{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte(`{"VNI":1,"VtepMAC":"02:00:00:00:00:01"}`)
	attrs := subnet.LeaseAttrs{PublicIP: netip.MustParseAddr("198.18.0.1"), BackendType: "vxlan", BackendData: data}
	l, err := d.mgr.Acquire(ctx, cfg, subnet.AcquireRequest{Attrs: attrs})
	if err != nil {
		t.Fatal(err)
	}
	d.setLease(l)

	moved := attrs
	moved.PublicIP = netip.MustParseAddr("198.18.0.21")
	checked := make(chan error, 1)
	d.afterLeaseWrite = func() {
		// What the keep-alive loop does when the watch reports our key
		// changed; the write stays unrecorded for a while meanwhile.
		go func() { checked <- d.onOwnChanged(ctx) }()
		time.Sleep(300 * time.Millisecond)
	}
	if err := d.updateLeaseAttrs(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if err := <-checked; err != nil {
		t.Fatal(err)
	}
	got, err := reg.GetLease(ctx, l.Subnet)
	if err != nil {
		t.Fatal(err)
	}
	if got.Attrs.PublicIP != moved.PublicIP || d.currentLease().Attrs.PublicIP != moved.PublicIP {
		t.Errorf("PublicIP in etcd %s, held %s; want %s", got.Attrs.PublicIP, d.currentLease().Attrs.PublicIP, moved.PublicIP)
	}
	for _, en := range hook.AllEntries() {
		if strings.Contains(en.Message, "rewritten by someone else") {
			t.Errorf("our own write was defended against: %q", en.Message)
		}
	}
}
