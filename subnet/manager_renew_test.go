// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/subnettest"
)

// keepAlive runs Manager.KeepAlive in the background of a synctest bubble.
type keepAlive struct {
	cancel  context.CancelFunc
	done    chan error
	changes chan subnet.Lease
}

func startKeepAlive(m *subnet.Manager, l subnet.Lease) *keepAlive {
	ctx, cancel := context.WithCancel(context.Background())
	k := &keepAlive{cancel: cancel, done: make(chan error, 1), changes: make(chan subnet.Lease, 10)}
	go func() { k.done <- m.KeepAlive(ctx, l, func(nl subnet.Lease) { k.changes <- nl }) }()
	return k
}

// stop cancels KeepAlive and returns what it returned.
func (k *keepAlive) stop() error {
	k.cancel()
	return <-k.done
}

// setup acquires a lease with a 30s TTL (renewed every 10s) in a fake.
func setup(t *testing.T) (*subnettest.FakeRegistry, *subnet.Manager, subnet.Lease, *test.Hook) {
	f := subnettest.NewFakeRegistry()
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	m := newManager(t, f, subnet.ManagerOptions{TTL: 30 * time.Second, RenewMargin: 20 * time.Second, Log: log})
	l := mustAcquire(t, m, mustConfig(t, v4Config), request("198.18.0.3"))
	return f, m, l, hook
}

func countLogs(h *test.Hook, level logrus.Level, msg string) int {
	n := 0
	for _, e := range h.AllEntries() {
		if e.Level == level && e.Message == msg {
			n++
		}
	}
	return n
}

func TestKeepAliveRenews(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, m, l, _ := setup(t)
		k := startKeepAlive(m, l)
		time.Sleep(5 * time.Minute) // ten TTLs
		synctest.Wait()
		got, err := f.GetLease(t.Context(), l.Subnet)
		if err != nil || got.LeaseID != l.LeaseID {
			t.Fatalf("after 10 TTLs: %+v, %v", got, err)
		}
		if n := f.Calls("RenewLease"); n < 29 || n > 32 { // every 10s, plus Acquire's
			t.Errorf("RenewLease called %d times in 5 minutes, want about 30", n)
		}
		if err := k.stop(); err != nil {
			t.Errorf("KeepAlive returned %v", err)
		}
	})
}

func TestKeepAliveReclaims(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, m, l, _ := setup(t)
		k := startKeepAlive(m, l)
		f.ExpireLease(l.LeaseID) // e.g. `etcdctl lease revoke`
		time.Sleep(11 * time.Second)
		synctest.Wait()
		var nl subnet.Lease
		select {
		case nl = <-k.changes:
		default:
			t.Fatal("onChange not called after the lease was lost")
		}
		if nl.Subnet != l.Subnet || nl.LeaseID == l.LeaseID || nl.LeaseID == 0 {
			t.Errorf("re-claimed %s (lease %x), want %s under a new lease", nl, nl.LeaseID, l)
		}
		// The new etcd lease is the one kept alive from now on.
		time.Sleep(2 * time.Minute)
		if got, err := f.GetLease(t.Context(), l.Subnet); err != nil || got.LeaseID != nl.LeaseID {
			t.Errorf("after re-claim: %+v, %v", got, err)
		}
		if s := m.Stats(); s.Reclaims != 1 {
			t.Errorf("stats %+v, want 1 reclaim", s)
		}
		if err := k.stop(); err != nil {
			t.Errorf("KeepAlive returned %v", err)
		}
	})
}

func TestKeepAliveTaken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, m, l, _ := setup(t)
		k := startKeepAlive(m, l)
		f.ExpireLease(l.LeaseID)
		subnettest.MustCreate(t, f, subnettest.TestLease(l.Subnet.String(), "198.18.0.4"), time.Hour)
		time.Sleep(11 * time.Second)
		synctest.Wait()
		var err error
		select {
		case err = <-k.done:
		default:
			t.Fatal("KeepAlive still running with its subnet taken")
		}
		if !errors.Is(err, subnet.ErrLeaseTaken) {
			t.Fatalf("KeepAlive = %v, want ErrLeaseTaken", err)
		}
		for _, s := range []string{"198.18.0.3", "198.18.0.4", l.Subnet.String()} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not name %s", err, s)
			}
		}
		if got, _ := f.GetLease(t.Context(), l.Subnet); got.Attrs.PublicIP.String() != "198.18.0.4" {
			t.Errorf("the other node's key was touched: %+v", got)
		}
	})
}

func TestKeepAliveOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f, m, l, hook := setup(t)
		k := startKeepAlive(m, l)
		time.Sleep(15 * time.Second)
		f.SetDown(true)
		before := f.Calls("RenewLease")
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		select {
		case err := <-k.done:
			t.Fatalf("KeepAlive returned during the outage: %v", err)
		default:
		}
		// Backoff: at most one try per 1.5 s (2 s less jitter) once it has
		// grown: short, so a lease never waits long after etcd returns.
		if n := f.Calls("RenewLease") - before; n < 10 || n > 400 {
			t.Errorf("%d renewals in a 10-minute outage, want bounded retries", n)
		}
		f.SetDown(false)
		time.Sleep(15 * time.Second)
		synctest.Wait()
		if got, err := f.GetLease(t.Context(), l.Subnet); err != nil || got.LeaseID != l.LeaseID {
			t.Fatalf("after the outage: %+v, %v", got, err)
		}
		for msg, want := range map[string]int{
			"lease renewal failing, retrying with backoff": 1,
			"lease expiring soon":                          1,
		} {
			if n := countLogs(hook, logrus.WarnLevel, msg); n != want {
				t.Errorf("%q logged %d times, want %d", msg, n, want)
			}
		}
		if n := countLogs(hook, logrus.InfoLevel, "lease renewal recovered"); n != 1 {
			t.Errorf("recovery logged %d times", n)
		}
		if s := m.Stats(); s.RenewFailures == 0 || s.Expiry.IsZero() {
			t.Errorf("stats %+v", s)
		}
		if err := k.stop(); err != nil {
			t.Errorf("KeepAlive returned %v", err)
		}
	})
}

func TestKeepAliveReservation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := subnettest.NewFakeRegistry()
		res := subnettest.MustCreate(t, f, subnettest.TestLease("10.244.5.0/24", "198.18.0.3"), 0)
		m := newManager(t, f, subnet.ManagerOptions{TTL: 30 * time.Second})
		k := startKeepAlive(m, res)
		time.Sleep(time.Hour)
		synctest.Wait()
		if err := k.stop(); err != nil {
			t.Errorf("KeepAlive of a reservation = %v", err)
		}
		if n := f.Calls("RenewLease"); n != 0 {
			t.Errorf("a reservation was renewed %d times", n)
		}
	})
}
