// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/subnettest"
)

const (
	v4Config   = `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`
	dualConfig = `{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/48","Backend":{"Type":"vxlan"}}`
	// twoConfig has room for exactly two subnets.
	twoConfig = `{"Network":"10.244.0.0/16","SubnetMin":"10.244.1.0","SubnetMax":"10.244.2.0","Backend":{"Type":"vxlan"}}`
)

func mustConfig(t *testing.T, js string) *subnet.Config {
	t.Helper()
	c, err := subnet.ParseConfig([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newManager(t *testing.T, reg subnet.Registry, opts subnet.ManagerOptions) *subnet.Manager {
	t.Helper()
	if opts.Log == nil {
		opts.Log, _ = test.NewNullLogger()
	}
	if opts.Rand == nil {
		opts.Rand = rand.New(rand.NewPCG(7, 7))
	}
	return subnet.NewManager(reg, opts)
}

// request is the AcquireRequest of node ip (attrs as subnettest.TestLease).
func request(ip string) subnet.AcquireRequest {
	return subnet.AcquireRequest{Attrs: subnettest.TestLease("10.0.0.0/24", ip).Attrs}
}

func dualRequest(ip string) subnet.AcquireRequest {
	return subnet.AcquireRequest{Attrs: subnettest.TestLease("10.0.0.0/24&fd00::/64", ip).Attrs}
}

func listLeases(t *testing.T, r subnet.Registry) []subnet.Lease {
	t.Helper()
	ls, _ := subnettest.MustList(t, r)
	return ls
}

func mustAcquire(t *testing.T, m *subnet.Manager, cfg *subnet.Config, req subnet.AcquireRequest) subnet.Lease {
	t.Helper()
	l, err := m.Acquire(subnettest.Ctx(t), cfg, req)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", req.Attrs.PublicIP, err)
	}
	return l
}

func TestAcquireReusesOwnLease(t *testing.T) {
	f := subnettest.NewFakeRegistry()
	old := subnettest.TestLease("10.244.7.0/24", "198.18.0.3")
	old.Attrs.BackendData = []byte(`{"VNI":1,"VtepMAC":"2e:00:00:00:00:99"}`) // MAC from before a reboot
	old = subnettest.MustCreate(t, f, old, time.Hour)
	subnettest.MustCreate(t, f, subnettest.TestLease("10.244.8.0/24", "198.18.0.4"), time.Hour)
	m := newManager(t, f, subnet.ManagerOptions{})
	req := request("198.18.0.3")
	req.Previous = netip.MustParsePrefix("10.244.9.0/24") // PublicIP wins over previous
	l := mustAcquire(t, m, mustConfig(t, v4Config), req)
	if l.Subnet != old.Subnet || l.LeaseID != old.LeaseID || l.Expiration.IsZero() {
		t.Errorf("Acquire = %s (lease %x), want %s kept with lease %x", l, l.LeaseID, old, old.LeaseID)
	}
	got, err := f.GetLease(subnettest.Ctx(t), old.Subnet)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(req.Attrs, got.Attrs, subnettest.LeaseCmp); d != "" {
		t.Errorf("stored attrs (-want +got):\n%s", d)
	}
	if s := m.Stats(); s.Attempts != 0 || s.Acquired != 1 {
		t.Errorf("stats %+v: reuse needs no create", s)
	}
}

func TestAcquireRecreatesOwnExpiredLease(t *testing.T) {
	f := subnettest.NewFakeRegistry()
	old := subnettest.MustCreate(t, f, subnettest.TestLease("10.244.7.0/24", "198.18.0.3"), time.Hour)
	// The etcd lease runs out between the list and the renewal.
	reg := &hookRegistry{Registry: f, beforeRenew: func(id int64) { f.ExpireLease(id) }}
	l := mustAcquire(t, newManager(t, reg, subnet.ManagerOptions{}), mustConfig(t, v4Config), request("198.18.0.3"))
	if l.Subnet != old.Subnet || l.LeaseID == old.LeaseID || l.LeaseID == 0 {
		t.Errorf("Acquire = %s (lease %x), want %s under a new etcd lease", l, l.LeaseID, old)
	}
}

func TestAcquireReservation(t *testing.T) {
	f := subnettest.NewFakeRegistry()
	cfg := mustConfig(t, twoConfig)
	res := subnettest.MustCreate(t, f, subnet.Lease{Subnet: netip.MustParsePrefix("10.244.1.0/24"),
		Attrs: subnet.LeaseAttrs{PublicIP: netip.MustParseAddr("198.18.0.3")}}, 0)
	m := newManager(t, f, subnet.ManagerOptions{})

	other := mustAcquire(t, m, cfg, subnet.AcquireRequest{Attrs: request("198.18.0.4").Attrs, Previous: res.Subnet})
	if other.Subnet.String() != "10.244.2.0/24" {
		t.Fatalf("node .4 got %s; the reservation must not be given away", other)
	}
	if peers := subnet.Peers(listLeases(t, f), other); len(peers) != 0 {
		t.Errorf("an empty reservation is a peer: %v", peers)
	}
	_, err := m.Acquire(subnettest.Ctx(t), cfg, request("198.18.0.5"))
	want := "no free subnet in 10.244.0.0/16 (10.244.1.0–10.244.2.0: 2 of 2 leased)"
	if !errors.Is(err, subnet.ErrNoFreeSubnet) || err.Error() != want {
		t.Fatalf("third node: %v, want %q", err, want)
	}

	mine := mustAcquire(t, m, cfg, request("198.18.0.3"))
	if mine.Subnet != res.Subnet || !mine.Reserved() {
		t.Fatalf("node .3 got %s (lease %x), want its reservation %s, lease-less", mine, mine.LeaseID, res)
	}
	stored, err := f.GetLease(subnettest.Ctx(t), res.Subnet)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(mine, stored, subnettest.LeaseCmp); d != "" || stored.LeaseID != 0 {
		t.Errorf("stored reservation (-want +got):\n%s", d)
	}
	if peers := subnet.Peers(listLeases(t, f), other); len(peers) != 1 || peers[0].Subnet != res.Subnet {
		t.Errorf("filled reservation not a peer: %v", peers)
	}
	if err := m.Release(subnettest.Ctx(t), mine); err != nil {
		t.Fatal(err)
	}
	if _, err := f.GetLease(subnettest.Ctx(t), res.Subnet); err != nil {
		t.Errorf("Release deleted the reservation: %v", err)
	}
}

func TestAcquirePrevious(t *testing.T) {
	tests := []struct {
		name, previous string
		reuse          bool
	}{
		{"free", "10.244.9.0/24", true},
		{"taken by another node", "10.244.8.0/24", false},
		{"outside the range", "10.244.0.0/24", false},
		{"wrong length", "10.244.9.0/25", false},
		{"other network", "10.99.9.0/24", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := subnettest.NewFakeRegistry()
			subnettest.MustCreate(t, f, subnettest.TestLease("10.244.8.0/24", "198.18.0.4"), time.Hour)
			req := request("198.18.0.3")
			req.Previous = netip.MustParsePrefix(tt.previous)
			l := mustAcquire(t, newManager(t, f, subnet.ManagerOptions{}), mustConfig(t, v4Config), req)
			if (l.Subnet == req.Previous) != tt.reuse || l.Subnet.String() == "10.244.8.0/24" {
				t.Errorf("Acquire = %s with previous %s; want reuse %v", l, req.Previous, tt.reuse)
			}
		})
	}
}

func TestAcquireDualStack(t *testing.T) {
	f := subnettest.NewFakeRegistry()
	cfg := mustConfig(t, dualConfig)
	m := newManager(t, f, subnet.ManagerOptions{})
	if _, err := m.Acquire(subnettest.Ctx(t), cfg, request("198.18.0.3")); err == nil || !strings.Contains(err.Error(), "PublicIPv6") {
		t.Fatalf("dual stack without PublicIPv6: %v", err)
	}
	l := mustAcquire(t, m, cfg, dualRequest("198.18.0.3"))
	i, _ := subnet.SubnetIndex(cfg.SubnetMin, l.Subnet.Addr(), cfg.SubnetLen)
	if l.IPv6Subnet != subnet.NthSubnet(cfg.IPv6SubnetMin, cfg.IPv6SubnetLen, i) {
		t.Errorf("Acquire = %s: the IPv6 subnet is not paired with the IPv4 one", l.Key())
	}
	again := mustAcquire(t, m, cfg, dualRequest("198.18.0.3"))
	if again.Key() != l.Key() || again.LeaseID != l.LeaseID {
		t.Errorf("second Acquire = %s, want %s reused", again.Key(), l.Key())
	}
}

func TestAcquireRetriesConflicts(t *testing.T) {
	for _, tt := range []struct {
		name   string
		steals int
		ok     bool
	}{{"wins after 3 lost races", 3, true}, {"gives up", 1000, false}} {
		t.Run(tt.name, func(t *testing.T) {
			f := subnettest.NewFakeRegistry()
			stolen := map[netip.Prefix]bool{}
			reg := &hookRegistry{Registry: f, beforeCreate: func(l subnet.Lease) {
				if len(stolen) < tt.steals {
					stolen[l.Subnet] = true
					subnettest.MustCreate(t, f, subnettest.TestLease(l.Subnet.String(), "198.18.0.200"), time.Hour)
				}
			}}
			m := newManager(t, reg, subnet.ManagerOptions{MaxAttempts: 5})
			l, err := m.Acquire(subnettest.Ctx(t), mustConfig(t, v4Config), request("198.18.0.3"))
			if !tt.ok {
				if !errors.Is(err, subnet.ErrLeaseExists) || m.Stats().Conflicts != 5 {
					t.Fatalf("Acquire = %v, stats %+v; want ErrLeaseExists after 5 conflicts", err, m.Stats())
				}
				return
			}
			if err != nil || stolen[l.Subnet] {
				t.Fatalf("Acquire = %s, %v", l, err)
			}
			if s := m.Stats(); s.Conflicts != 3 || s.Attempts != 4 {
				t.Errorf("stats %+v, want 3 conflicts in 4 attempts", s)
			}
		})
	}
}

func TestReleaseAndUpdateAttrs(t *testing.T) {
	f := subnettest.NewFakeRegistry()
	ctx := subnettest.Ctx(t)
	m := newManager(t, f, subnet.ManagerOptions{})
	l := mustAcquire(t, m, mustConfig(t, v4Config), request("198.18.0.3"))

	// Someone else touches our key (same etcd lease): UpdateAttrs retries.
	if _, err := f.UpdateLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	moved := request("198.18.0.30").Attrs
	u, err := m.UpdateAttrs(ctx, l, moved)
	if err != nil {
		t.Fatal(err)
	}
	if u.LeaseID != l.LeaseID || u.Attrs.PublicIP != moved.PublicIP {
		t.Errorf("UpdateAttrs = %+v", u)
	}
	if err := m.Release(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := m.Release(ctx, u); err != nil {
		t.Errorf("second Release: %v", err)
	}
	theirs := subnettest.MustCreate(t, f, subnettest.TestLease(l.Subnet.String(), "198.18.0.4"), time.Hour)
	if err := m.Release(ctx, u); !errors.Is(err, subnet.ErrLeaseTaken) {
		t.Errorf("Release of a key another node holds: %v", err)
	}
	if _, err := m.UpdateAttrs(ctx, u, moved); !errors.Is(err, subnet.ErrLeaseTaken) {
		t.Errorf("UpdateAttrs of a key another node holds: %v", err)
	}
	if got, _ := f.GetLease(ctx, l.Subnet); got.LeaseID != theirs.LeaseID {
		t.Errorf("the other node's key changed: %+v", got)
	}
}

func TestPeers(t *testing.T) {
	own := subnettest.TestLease("10.244.1.0/24", "198.18.0.1")
	peer := subnettest.TestLease("10.244.2.0/24", "198.18.0.2")
	filledRes := subnettest.TestLease("10.244.3.0/24", "198.18.0.3")
	emptyRes := subnet.Lease{Subnet: netip.MustParsePrefix("10.244.4.0/24"), Attrs: subnet.LeaseAttrs{PublicIP: netip.MustParseAddr("198.18.0.4")}}
	got := subnet.Peers([]subnet.Lease{own, peer, filledRes, emptyRes}, own)
	if d := cmp.Diff([]subnet.Lease{peer, filledRes}, got, subnettest.LeaseCmp); d != "" {
		t.Errorf("Peers (-want +got):\n%s", d)
	}
}

// hookRegistry runs hooks before delegating some calls.
type hookRegistry struct {
	subnet.Registry
	beforeCreate func(subnet.Lease)
	beforeRenew  func(int64)
}

func (h *hookRegistry) CreateLease(ctx context.Context, l subnet.Lease, ttl time.Duration) (subnet.Lease, error) {
	if h.beforeCreate != nil {
		h.beforeCreate(l)
	}
	return h.Registry.CreateLease(ctx, l, ttl)
}

func (h *hookRegistry) RenewLease(ctx context.Context, id int64) (time.Duration, error) {
	if h.beforeRenew != nil {
		h.beforeRenew(id)
	}
	return h.Registry.RenewLease(ctx, id)
}

func TestAcquireDecidesOverTheCallersList(t *testing.T) {
	f := subnettest.NewFakeRegistry()
	subnettest.MustCreate(t, f, subnettest.TestLease("10.244.7.0/24", "198.18.0.9"), time.Hour)
	snap, _ := subnettest.MustList(t, f)
	lists := f.Calls("ListLeases")
	m := newManager(t, f, subnet.ManagerOptions{})
	req := request("198.18.0.3")
	req.Leases = snap
	l := mustAcquire(t, m, mustConfig(t, v4Config), req)
	if l.Subnet == netip.MustParsePrefix("10.244.7.0/24") {
		t.Errorf("got the other node's subnet %s", l.Subnet)
	}
	if n := f.Calls("ListLeases") - lists; n != 0 {
		t.Errorf("Acquire listed %d times despite the caller's list", n)
	}
}

func TestAcquireStaleCallersListIsRetriedFresh(t *testing.T) {
	f := subnettest.NewFakeRegistry()
	one := mustConfig(t, `{"Network":"10.244.0.0/16","SubnetMin":"10.244.1.0","SubnetMax":"10.244.1.0","Backend":{"Type":"vxlan"}}`)
	snap, _ := subnettest.MustList(t, f) // empty: taken below, after the list
	subnettest.MustCreate(t, f, subnettest.TestLease("10.244.1.0/24", "198.18.0.9"), time.Hour)
	m := newManager(t, f, subnet.ManagerOptions{})
	req := request("198.18.0.3")
	req.Leases = snap
	_, err := m.Acquire(subnettest.Ctx(t), one, req)
	if !errors.Is(err, subnet.ErrNoFreeSubnet) {
		t.Fatalf("Acquire over a stale list = %v, want ErrNoFreeSubnet after a fresh list", err)
	}
	if m.Stats().Conflicts != 1 {
		t.Errorf("stats %+v, want the stale attempt counted as one conflict", m.Stats())
	}
}
