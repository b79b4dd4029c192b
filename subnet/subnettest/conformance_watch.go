// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnettest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weft-net/weft/subnet"
)

// Watcher runs WatchLeases in the background and collects its events.
type Watcher struct {
	events chan subnet.Event
	done   chan error
	cancel context.CancelFunc
}

// StartWatch starts WatchLeases(known, rev); it is stopped (and its nil
// return checked) at test cleanup.
func StartWatch(t *testing.T, r subnet.Registry, known []subnet.Lease, rev int64) *Watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{events: make(chan subnet.Event, 1<<16), done: make(chan error, 1), cancel: cancel}
	go func() {
		w.done <- r.WatchLeases(ctx, known, rev, func(evs []subnet.Event) {
			if len(evs) == 0 {
				t.Errorf("WatchLeases delivered an empty batch")
			}
			for _, e := range evs {
				w.events <- e
			}
		})
	}()
	t.Cleanup(func() { w.Stop(t) })
	return w
}

// Next returns the next event, failing the test if none comes in time.
func (w *Watcher) Next(t *testing.T) subnet.Event {
	t.Helper()
	select {
	case e := <-w.events:
		return e
	case err := <-w.done:
		t.Fatalf("WatchLeases returned early: %v", err)
	case <-time.After(waitTimeout):
		t.Fatalf("no lease event within %v", waitTimeout)
	}
	return subnet.Event{}
}

// Expect reads len(want) events and compares them with want.
func (w *Watcher) Expect(t *testing.T, want ...subnet.Event) {
	t.Helper()
	got := make([]subnet.Event, 0, len(want))
	for range want {
		got = append(got, w.Next(t))
	}
	if d := cmp.Diff(want, got, LeaseCmp); d != "" {
		t.Fatalf("events (-want +got):\n%s", d)
	}
}

// ExpectQuiet fails if an event arrives within d.
func (w *Watcher) ExpectQuiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case e := <-w.events:
		t.Fatalf("unexpected event %v %s", e.Type, e.Lease)
	case <-time.After(d):
	}
}

// Stop cancels the watch and checks that WatchLeases returned nil. Idempotent.
func (w *Watcher) Stop(t *testing.T) {
	t.Helper()
	if w.cancel == nil {
		return
	}
	w.cancel()
	w.cancel = nil
	select {
	case err := <-w.done:
		if err != nil {
			t.Errorf("WatchLeases returned %v after cancel, want nil", err)
		}
	case <-time.After(waitTimeout):
		t.Errorf("WatchLeases did not return within %v of cancel", waitTimeout)
	}
}

// Added and Removed build expected events.
func Added(l subnet.Lease) subnet.Event { return subnet.Event{Type: subnet.EventAdded, Lease: l} }

// Removed builds an expected Removed event.
func Removed(l subnet.Lease) subnet.Event { return subnet.RemovedEvent(l) }

func testWatch(t *testing.T, r subnet.Registry) {
	ctx := Ctx(t)
	known, rev := MustList(t, r)
	w := StartWatch(t, r, known, rev)
	a := MustCreate(t, r, TestLease("10.244.3.0/24", "198.18.0.3"), time.Hour)
	moved := a
	moved.Attrs = TestLease("10.244.3.0/24", "198.18.0.33").Attrs
	moved, err := r.UpdateLease(ctx, moved)
	if err != nil {
		t.Fatal(err)
	}
	res := MustCreate(t, r, TestLease("10.244.4.0/24&fd00:10:244:4::/64", "198.18.0.4"), 0)
	if err := r.DeleteLease(ctx, moved); err != nil {
		t.Fatal(err)
	}
	w.Expect(t, Added(a), Added(moved), Added(res), Removed(moved))
}

func testWatchFromRevision(t *testing.T, r subnet.Registry) {
	a := MustCreate(t, r, TestLease("10.244.3.0/24", "198.18.0.3"), time.Hour)
	known, rev := MustList(t, r)
	b := MustCreate(t, r, TestLease("10.244.4.0/24", "198.18.0.4"), time.Hour)
	w := StartWatch(t, r, known, rev)
	w.Expect(t, Added(b))
	if err := r.DeleteLease(Ctx(t), a); err != nil {
		t.Fatal(err)
	}
	w.Expect(t, Removed(a))
}

func testExpiry(t *testing.T, r subnet.Registry) {
	// 2s is etcd's shortest TTL with its default timing.
	a := MustCreate(t, r, TestLease("10.244.3.0/24", "198.18.0.3"), 2*time.Second)
	known, rev := MustList(t, r)
	w := StartWatch(t, r, known, rev)
	w.Expect(t, Removed(a))
	_, err := r.RenewLease(Ctx(t), a.LeaseID)
	wantErr(t, "RenewLease after expiry", err, subnet.ErrLeaseExpired)
	_, err = r.GetLease(Ctx(t), a.Subnet)
	wantErr(t, "GetLease after expiry", err, subnet.ErrLeaseNotFound)
}
