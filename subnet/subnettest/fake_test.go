// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnettest

import (
	"errors"
	"testing"
	"time"

	"github.com/weft-net/weft/subnet"
)

func TestFakeConformance(t *testing.T) {
	RunRegistryConformance(t, func(*testing.T) subnet.Registry { return NewFakeRegistry() })
}

func TestFakeCompactionResync(t *testing.T) {
	f := NewFakeRegistry()
	a := MustCreate(t, f, TestLease("10.244.3.0/24", "198.18.0.3"), time.Hour)
	MustCreate(t, f, TestLease("10.244.4.0/24", "198.18.0.4"), time.Hour) // unchanged: no event
	known, rev := MustList(t, f)
	// Changes the watcher never saw as events, then compaction.
	if err := f.DeleteLease(Ctx(t), a); err != nil {
		t.Fatal(err)
	}
	c := MustCreate(t, f, TestLease("10.244.5.0/24", "198.18.0.5"), time.Hour)
	f.Compact()
	w := StartWatch(t, f, known, rev)
	w.Expect(t, Removed(a), Added(c))
	w.ExpectQuiet(t, 50*time.Millisecond)
	d := MustCreate(t, f, TestLease("10.244.6.0/24", "198.18.0.6"), time.Hour)
	w.Expect(t, Added(d))
}

func TestFakeDown(t *testing.T) {
	f := NewFakeRegistry()
	a := MustCreate(t, f, TestLease("10.244.3.0/24", "198.18.0.3"), time.Hour)
	f.SetDown(true)
	if _, err := f.RenewLease(Ctx(t), a.LeaseID); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("RenewLease while down: %v", err)
	}
	f.SetDown(false)
	if _, err := f.RenewLease(Ctx(t), a.LeaseID); err != nil {
		t.Fatalf("RenewLease after outage: %v", err)
	}
	f.ExpireLease(a.LeaseID)
	if _, err := f.RenewLease(Ctx(t), a.LeaseID); !errors.Is(err, subnet.ErrLeaseExpired) {
		t.Fatalf("RenewLease after ExpireLease: %v", err)
	}
	if n := f.Calls("RenewLease"); n != 3 {
		t.Errorf("Calls(RenewLease) = %d, want 3", n)
	}
}
