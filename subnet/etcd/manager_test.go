// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/etcd"
	"github.com/weft-net/weft/subnet/etcd/etcdtest"
	"github.com/weft-net/weft/subnet/subnettest"
)

const v4Config = `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`

func request(ip string) subnet.AcquireRequest {
	return subnet.AcquireRequest{Attrs: subnettest.TestLease("10.0.0.0/24", ip).Attrs}
}

func mustConfig(t testing.TB, js string) *subnet.Config {
	t.Helper()
	c, err := subnet.ParseConfig([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func acquire(t *testing.T, r subnet.Registry, cfg *subnet.Config, req subnet.AcquireRequest, opts subnet.ManagerOptions) subnet.Lease {
	t.Helper()
	l, err := subnet.NewManager(r, opts).Acquire(subnettest.Ctx(t), cfg, req)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", req.Attrs.PublicIP, err)
	}
	return l
}

// TestManagerReuse: a restarted node gets its lease back by PublicIP (same
// etcd lease), and after a release gets its previous subnet back.
func TestManagerReuse(t *testing.T) {
	srv := etcdtest.Start(t)
	r := etcd.New(srv.Client(t), "/p", nullLog())
	cfg := mustConfig(t, v4Config)
	first := acquire(t, r, cfg, request("198.18.0.3"), subnet.ManagerOptions{})
	acquire(t, r, cfg, request("198.18.0.4"), subnet.ManagerOptions{})

	again := acquire(t, r, cfg, request("198.18.0.3"), subnet.ManagerOptions{})
	if again.Subnet != first.Subnet || again.LeaseID != first.LeaseID {
		t.Errorf("after restart: %s (lease %x), want %s (lease %x)", again, again.LeaseID, first, first.LeaseID)
	}
	if err := subnet.NewManager(r, subnet.ManagerOptions{}).Release(subnettest.Ctx(t), again); err != nil {
		t.Fatal(err)
	}
	req := request("198.18.0.3")
	req.Previous = first.Subnet
	prev := acquire(t, r, cfg, req, subnet.ManagerOptions{})
	if prev.Subnet != first.Subnet || prev.LeaseID == first.LeaseID {
		t.Errorf("with previous %s: %s (lease %x), want it under a new lease", first, prev, prev.LeaseID)
	}
}

// TestManagerReservation: an operator's reservation (a key without an etcd
// lease, written with etcdctl) is never given to another node; its node
// uses it and writes its attributes into it, still without a lease.
func TestManagerReservation(t *testing.T) {
	srv := etcdtest.Start(t)
	c := srv.Client(t)
	r := etcd.New(c, "/p", nullLog())
	cfg := mustConfig(t, `{"Network":"10.244.0.0/16","SubnetMin":"10.244.1.0","SubnetMax":"10.244.2.0","Backend":{"Type":"vxlan"}}`)
	put(t, c, "/p/subnets/10.244.2.0-24", `{"PublicIP":"198.18.0.3"}`)

	other := acquire(t, r, cfg, request("198.18.0.4"), subnet.ManagerOptions{})
	if other.Subnet.String() != "10.244.1.0/24" {
		t.Fatalf("node .4 got %s", other)
	}
	_, err := subnet.NewManager(r, subnet.ManagerOptions{}).Acquire(subnettest.Ctx(t), cfg, request("198.18.0.5"))
	want := "no free subnet in 10.244.0.0/16 (10.244.1.0–10.244.2.0: 2 of 2 leased)"
	if !errors.Is(err, subnet.ErrNoFreeSubnet) || err.Error() != want {
		t.Fatalf("node .5: %v, want %q", err, want)
	}
	mine := acquire(t, r, cfg, request("198.18.0.3"), subnet.ManagerOptions{})
	if mine.Subnet.String() != "10.244.2.0/24" || !mine.Reserved() {
		t.Fatalf("node .3 got %s (lease %x)", mine, mine.LeaseID)
	}
	val, lease := getRaw(t, c, "/p/subnets/10.244.2.0-24")
	if lease != 0 || !strings.Contains(val, `"BackendData":{"VNI":1,"VtepMAC":"2e:00:c6:12:00:03"}`) {
		t.Errorf("reservation now %s (etcd lease %x), want our BackendData and no lease", val, lease)
	}
}

// TestManagerExhaustion fills the default range of a /16.
func TestManagerExhaustion(t *testing.T) {
	srv := etcdtest.Start(t)
	r := etcd.New(srv.Client(t), "/p", nullLog())
	cfg := mustConfig(t, v4Config)
	for i := range uint64(255) {
		sn := subnet.NthSubnet(cfg.SubnetMin, 24, i)
		subnettest.MustCreate(t, r, subnettest.TestLease(sn.String(), fmt.Sprintf("198.18.1.%d", i)), time.Hour)
	}
	_, err := subnet.NewManager(r, subnet.ManagerOptions{}).Acquire(subnettest.Ctx(t), cfg, request("198.18.0.3"))
	want := "no free subnet in 10.244.0.0/16 (10.244.1.0–10.244.255.0: 255 of 255 leased)"
	if !errors.Is(err, subnet.ErrNoFreeSubnet) || err.Error() != want {
		t.Fatalf("Acquire = %v, want %q", err, want)
	}
}

// TestManagerConcurrent: 200 nodes, each with its own Manager, over a few
// shared clients, acquire at once from 255 subnets: 200 distinct subnets,
// every key present with its node's PublicIP.
func TestManagerConcurrent(t *testing.T) {
	srv := etcdtest.Start(t)
	clients := []*clientv3.Client{srv.Client(t), srv.Client(t), srv.Client(t), srv.Client(t)}
	cfg := mustConfig(t, v4Config)
	const n = 200
	got := make([]subnet.Lease, n)
	errs := make([]error, n)
	stats := make([]subnet.ManagerStats, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			m := subnet.NewManager(etcd.New(clients[i%len(clients)], "/p", nullLog()), subnet.ManagerOptions{})
			<-start
			got[i], errs[i] = m.Acquire(subnettest.Ctx(t), cfg, request(fmt.Sprintf("198.18.%d.%d", i/250, i%250+1)))
			stats[i] = m.Stats()
		})
	}
	close(start)
	wg.Wait()
	seen := map[netip.Prefix]int{}
	var conflicts uint64
	for i, l := range got {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		if j, dup := seen[l.Subnet]; dup {
			t.Fatalf("nodes %d and %d both got %s", i, j, l.Subnet)
		}
		seen[l.Subnet] = i
		conflicts += stats[i].Conflicts
	}
	leases, _ := subnettest.MustList(t, etcd.New(clients[0], "/p", nullLog()))
	if len(leases) != n {
		t.Fatalf("%d keys in etcd, want %d", len(leases), n)
	}
	for _, l := range leases {
		i, ok := seen[l.Subnet]
		if !ok || got[i].Attrs.PublicIP != l.Attrs.PublicIP || got[i].LeaseID != l.LeaseID {
			t.Errorf("key %s (%s) does not match what its node was given", l, l.Attrs.PublicIP)
		}
	}
	t.Logf("200 acquisitions in 255 subnets: %d conflicts retried", conflicts)
}

// keepAlive starts Manager.KeepAlive and returns its result channel and
// the channel of re-claimed leases.
func keepAlive(t *testing.T, m *subnet.Manager, l subnet.Lease) (<-chan error, <-chan subnet.Lease) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	changes := make(chan subnet.Lease, 4)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		done <- m.KeepAlive(ctx, l, func(nl subnet.Lease) { changes <- nl })
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	return done, changes
}

// TestKeepAliveReclaimsRevoked: an etcd lease revoked by hand is noticed at
// the next renewal, and the same subnet is claimed again under a new lease.
func TestKeepAliveReclaimsRevoked(t *testing.T) {
	srv := etcdtest.Start(t)
	c := srv.Client(t)
	r := etcd.New(c, "/p", nullLog())
	opts := subnet.ManagerOptions{TTL: 10 * time.Second, RenewInterval: 300 * time.Millisecond}
	m := subnet.NewManager(r, opts)
	l := acquire(t, r, mustConfig(t, v4Config), request("198.18.0.3"), opts)
	_, changes := keepAlive(t, m, l)
	if _, err := c.Revoke(subnettest.Ctx(t), clientv3.LeaseID(l.LeaseID)); err != nil {
		t.Fatal(err)
	}
	var nl subnet.Lease
	select {
	case nl = <-changes:
	case <-time.After(30 * time.Second):
		t.Fatal("lease not re-claimed after revoke")
	}
	_, lease := getRaw(t, c, r.LeaseKey(l))
	if nl.Subnet != l.Subnet || nl.LeaseID == l.LeaseID || lease != nl.LeaseID {
		t.Errorf("re-claimed %s under %x (etcd says %x), had %s under %x", nl, nl.LeaseID, lease, l, l.LeaseID)
	}
}

// TestKeepAliveTakenByAnother: when another node holds the subnet after our
// lease was lost, KeepAlive stops with ErrLeaseTaken naming both nodes and
// leaves the other node's key alone.
func TestKeepAliveTakenByAnother(t *testing.T) {
	srv := etcdtest.Start(t)
	c := srv.Client(t)
	r := etcd.New(c, "/p", nullLog())
	opts := subnet.ManagerOptions{TTL: 10 * time.Second, RenewInterval: 300 * time.Millisecond}
	l := acquire(t, r, mustConfig(t, v4Config), request("198.18.0.3"), opts)
	// Stop renewing first so that the revoke and the other node's create
	// happen together, as after a long partition.
	if _, err := c.Revoke(subnettest.Ctx(t), clientv3.LeaseID(l.LeaseID)); err != nil {
		t.Fatal(err)
	}
	theirs := subnettest.MustCreate(t, r, subnettest.TestLease(l.Subnet.String(), "198.18.0.4"), time.Hour)
	done, _ := keepAlive(t, subnet.NewManager(r, opts), l)
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("KeepAlive still running with its subnet taken")
	}
	if !errors.Is(err, subnet.ErrLeaseTaken) || !strings.Contains(err.Error(), "198.18.0.3") ||
		!strings.Contains(err.Error(), "198.18.0.4") || !strings.Contains(err.Error(), l.Subnet.String()) {
		t.Fatalf("KeepAlive = %v, want ErrLeaseTaken naming both nodes and the subnet", err)
	}
	if _, lease := getRaw(t, c, r.LeaseKey(l)); lease != theirs.LeaseID {
		t.Errorf("the other node's key is now bound to %x, want %x", lease, theirs.LeaseID)
	}
	// Releasing our stale lease must not delete theirs either.
	if err := subnet.NewManager(r, opts).Release(subnettest.Ctx(t), l); !errors.Is(err, subnet.ErrLeaseTaken) {
		t.Errorf("Release of a taken key: %v", err)
	}
	getRaw(t, c, r.LeaseKey(l))
}
