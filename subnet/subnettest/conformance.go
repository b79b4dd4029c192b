// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnettest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/weft-net/weft/subnet"
)

// Waits in the suite are generous: they bound a hung test, they do not
// measure speed.
const waitTimeout = 30 * time.Second

// LeaseCmp compares Leases (and Events) with go-cmp, ignoring Expiration,
// which a list does not fill in.
var LeaseCmp = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmpopts.IgnoreFields(subnet.Lease{}, "Expiration"),
}

// TestLease returns a lease for subnet sn ("10.244.3.0/24", or
// "10.244.3.0/24&fd00:10:244:3::/64" for dual stack) held by node ip, with
// vxlan BackendData whose MAC is derived from ip. Test helper. An
// IPv6-only sn ("&fd00:10:244:3::/64") gives the lease flanneld writes in
// an IPv6-only network, held by node IPv6 address ip (see TestLeaseV6).
func TestLease(sn, ip string) subnet.Lease {
	v4, v6, dual := strings.Cut(sn, "&")
	if v4 == "" {
		return TestLeaseV6(v6, ip)
	}
	a := netip.MustParseAddr(ip).As4()
	l := subnet.Lease{
		Subnet: netip.MustParsePrefix(v4),
		Attrs: subnet.LeaseAttrs{
			PublicIP: netip.MustParseAddr(ip), BackendType: "vxlan",
			BackendData: json.RawMessage(fmt.Sprintf(`{"VNI":1,"VtepMAC":"2e:00:%02x:%02x:%02x:%02x"}`, a[0], a[1], a[2], a[3])),
		},
	}
	if dual {
		l.IPv6Subnet = netip.MustParsePrefix(v6)
		l.Attrs.PublicIPv6 = netip.MustParseAddr(fmt.Sprintf("2001:db8:18::%d", a[3]))
		l.Attrs.BackendV6Data = json.RawMessage(fmt.Sprintf(`{"VNI":1,"VtepMAC":"2e:06:%02x:%02x:%02x:%02x"}`, a[0], a[1], a[2], a[3]))
	}
	return l
}

// RunRegistryConformance runs the behaviour every subnet.Registry must
// have. newRegistry returns an empty registry (for etcd: a fresh prefix);
// it is called once per subtest.
func RunRegistryConformance(t *testing.T, newRegistry func(t *testing.T) subnet.Registry) {
	tests := []struct {
		name string
		fn   func(t *testing.T, r subnet.Registry)
	}{
		{"Config", testConfig},
		{"CreateListGet", testCreateListGet},
		{"CreateExists", testCreateExists},
		{"Update", testUpdate},
		{"RenewAndTTL", testRenew},
		{"DeleteOnlyOurs", testDelete},
		{"Watch", testWatch},
		{"WatchFromRevision", testWatchFromRevision},
		{"Expiry", testExpiry},
		{"IPv6Only", testIPv6Only},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "Expiry" {
				t.Parallel() // waits for a real TTL
			}
			tt.fn(t, newRegistry(t))
		})
	}
}

// Ctx returns a context cancelled at test cleanup.
func Ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// MustCreate creates a lease or fails the test.
func MustCreate(t *testing.T, r subnet.Registry, l subnet.Lease, ttl time.Duration) subnet.Lease {
	t.Helper()
	got, err := r.CreateLease(Ctx(t), l, ttl)
	if err != nil {
		t.Fatalf("CreateLease(%s): %v", l, err)
	}
	return got
}

// MustList lists the leases or fails the test.
func MustList(t *testing.T, r subnet.Registry) ([]subnet.Lease, int64) {
	t.Helper()
	ls, rev, err := r.ListLeases(Ctx(t))
	if err != nil {
		t.Fatalf("ListLeases: %v", err)
	}
	return ls, rev
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

const testConfigJSON = `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`

func testConfig(t *testing.T, r subnet.Registry) {
	ctx := Ctx(t)
	_, err := r.GetConfig(ctx)
	wantErr(t, "GetConfig on empty registry", err, subnet.ErrConfigNotFound)
	if err := r.PutConfig(ctx, []byte(testConfigJSON)); err != nil {
		t.Fatal(err)
	}
	err = r.PutConfig(ctx, []byte(`{"Network":"10.244.0.0/16","SubnetLen":31,"Backend":{"Type":"vxlan"}}`))
	if err == nil || !strings.Contains(err.Error(), "SubnetLen 31") {
		t.Fatalf("PutConfig(SubnetLen 31): error %v, want one naming SubnetLen 31", err)
	}
	cfg, err := r.GetConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := subnet.ParseConfig([]byte(testConfigJSON))
	if d := cmp.Diff(want, cfg, LeaseCmp); d != "" {
		t.Errorf("GetConfig (-want +got):\n%s", d)
	}
}

func testCreateListGet(t *testing.T, r subnet.Registry) {
	a := MustCreate(t, r, TestLease("10.244.3.0/24", "198.18.0.3"), time.Hour)
	b := MustCreate(t, r, TestLease("10.244.4.0/24", "198.18.0.4"), 0)
	c := MustCreate(t, r, TestLease("10.244.5.0/24&fd00:10:244:5::/64", "198.18.0.5"), time.Hour)
	if a.LeaseID == 0 || a.Expiration.IsZero() || c.LeaseID == 0 || a.LeaseID == c.LeaseID {
		t.Errorf("created leases have LeaseIDs %x, %x and expiration %v", a.LeaseID, c.LeaseID, a.Expiration)
	}
	if b.LeaseID != 0 || !b.Expiration.IsZero() || !b.Reserved() {
		t.Errorf("reservation created as %+v", b)
	}
	got, rev := MustList(t, r)
	if d := cmp.Diff([]subnet.Lease{a, b, c}, got, LeaseCmp); d != "" {
		t.Errorf("ListLeases (-want +got):\n%s", d)
	}
	if rev < c.ModRevision || a.ModRevision >= b.ModRevision {
		t.Errorf("revision %d, ModRevisions %d %d %d", rev, a.ModRevision, b.ModRevision, c.ModRevision)
	}
	for _, l := range []subnet.Lease{a, b, c} {
		g, err := r.GetLease(Ctx(t), l.Subnet)
		if err != nil {
			t.Fatalf("GetLease(%s): %v", l.Subnet, err)
		}
		if d := cmp.Diff(l, g, LeaseCmp); d != "" {
			t.Errorf("GetLease(%s) (-want +got):\n%s", l.Subnet, d)
		}
	}
	_, err := r.GetLease(Ctx(t), netip.MustParsePrefix("10.244.6.0/24"))
	wantErr(t, "GetLease(absent)", err, subnet.ErrLeaseNotFound)
}

func testCreateExists(t *testing.T, r subnet.Registry) {
	a := MustCreate(t, r, TestLease("10.244.3.0/24", "198.18.0.3"), time.Hour)
	for _, ttl := range []time.Duration{time.Hour, 0} {
		_, err := r.CreateLease(Ctx(t), TestLease("10.244.3.0/24", "198.18.0.9"), ttl)
		wantErr(t, fmt.Sprintf("second CreateLease (ttl %v)", ttl), err, subnet.ErrLeaseExists)
	}
	got, _ := MustList(t, r)
	if d := cmp.Diff([]subnet.Lease{a}, got, LeaseCmp); d != "" {
		t.Errorf("after conflicts (-want +got):\n%s", d)
	}
}

func testUpdate(t *testing.T, r subnet.Registry) {
	ctx := Ctx(t)
	a := MustCreate(t, r, TestLease("10.244.3.0/24", "198.18.0.3"), time.Hour)
	moved := a
	moved.Attrs = TestLease("10.244.3.0/24", "198.18.0.33").Attrs
	u, err := r.UpdateLease(ctx, moved)
	if err != nil {
		t.Fatal(err)
	}
	if u.ModRevision <= a.ModRevision || u.LeaseID != a.LeaseID {
		t.Errorf("updated lease %+v from %+v", u, a)
	}
	_, err = r.UpdateLease(ctx, a)
	wantErr(t, "UpdateLease with a stale ModRevision", err, subnet.ErrLeaseModified)

	res := MustCreate(t, r, subnet.Lease{Subnet: netip.MustParsePrefix("10.244.4.0/24"),
		Attrs: subnet.LeaseAttrs{PublicIP: netip.MustParseAddr("198.18.0.4")}}, 0)
	filled := res
	filled.Attrs = TestLease("10.244.4.0/24", "198.18.0.4").Attrs
	if filled, err = r.UpdateLease(ctx, filled); err != nil {
		t.Fatal(err)
	}
	got, _ := MustList(t, r)
	if d := cmp.Diff([]subnet.Lease{u, filled}, got, LeaseCmp); d != "" {
		t.Errorf("after updates (-want +got):\n%s", d)
	}
	if err := r.DeleteLease(ctx, u); err != nil {
		t.Fatal(err)
	}
	_, err = r.UpdateLease(ctx, u)
	wantErr(t, "UpdateLease of a deleted key", err, subnet.ErrLeaseModified)
}

func testRenew(t *testing.T, r subnet.Registry) {
	ctx := Ctx(t)
	a := MustCreate(t, r, TestLease("10.244.3.0/24", "198.18.0.3"), time.Hour)
	for name, f := range map[string]func(context.Context, int64) (time.Duration, error){
		"RenewLease": r.RenewLease, "LeaseTTL": r.LeaseTTL,
	} {
		ttl, err := f(ctx, a.LeaseID)
		if err != nil || ttl <= 0 || ttl > time.Hour {
			t.Errorf("%s = %v, %v; want a TTL in (0, 1h]", name, ttl, err)
		}
	}
	if err := r.DeleteLease(ctx, a); err != nil {
		t.Fatal(err)
	}
	_, err := r.RenewLease(ctx, a.LeaseID)
	wantErr(t, "RenewLease after delete", err, subnet.ErrLeaseExpired)
	_, err = r.LeaseTTL(ctx, a.LeaseID)
	wantErr(t, "LeaseTTL after delete", err, subnet.ErrLeaseExpired)

	// Binding a key to a lease that is gone fails distinctly.
	res := MustCreate(t, r, TestLease("10.244.4.0/24", "198.18.0.4"), 0)
	res.LeaseID = a.LeaseID
	_, err = r.UpdateLease(ctx, res)
	wantErr(t, "UpdateLease bound to a revoked lease", err, subnet.ErrLeaseExpired)
}

func testDelete(t *testing.T, r subnet.Registry) {
	ctx := Ctx(t)
	a1 := MustCreate(t, r, TestLease("10.244.3.0/24", "198.18.0.3"), time.Hour)
	for i := range 2 { // the second delete finds nothing and succeeds
		if err := r.DeleteLease(ctx, a1); err != nil {
			t.Fatalf("DeleteLease #%d: %v", i+1, err)
		}
	}
	a2 := MustCreate(t, r, TestLease("10.244.3.0/24", "198.18.0.9"), time.Hour)
	err := r.DeleteLease(ctx, a1)
	wantErr(t, "DeleteLease of a key another node holds", err, subnet.ErrLeaseTaken)

	res := MustCreate(t, r, TestLease("10.244.4.0/24", "198.18.0.4"), 0)
	stale := res
	upd, err := r.UpdateLease(ctx, res)
	if err != nil {
		t.Fatal(err)
	}
	err = r.DeleteLease(ctx, stale)
	wantErr(t, "DeleteLease of a changed reservation", err, subnet.ErrLeaseModified)
	got, _ := MustList(t, r)
	if d := cmp.Diff([]subnet.Lease{a2, upd}, got, LeaseCmp); d != "" {
		t.Errorf("after refused deletes (-want +got):\n%s", d)
	}
	if err := r.DeleteLease(ctx, upd); err != nil {
		t.Fatal(err)
	}
	if got, _ := MustList(t, r); len(got) != 1 {
		t.Errorf("after deleting the reservation: %v", got)
	}
}
