// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

func mustConfig(t testing.TB, js string) *Config {
	t.Helper()
	c, err := ParseConfig([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func leasesOf(subnets ...string) []Lease {
	var out []Lease
	for _, s := range subnets {
		out = append(out, Lease{Subnet: netip.MustParsePrefix(s)})
	}
	return out
}

// nthFree makes Allocate pick the k-th free subnet, deterministically.
func nthFree(k uint64) func(uint64) uint64 { return func(uint64) uint64 { return k } }

func TestAllocate(t *testing.T) {
	small := `{"Network":"10.244.0.0/16","SubnetMin":"10.244.1.0","SubnetMax":"10.244.4.0","Backend":{"Type":"vxlan"}}`
	tests := []struct {
		name   string
		config string
		leases []Lease
		k      uint64
		want   string
	}{
		{"first free", small, nil, 0, "10.244.1.0/24"},
		{"last free", small, nil, 3, "10.244.4.0/24"},
		{"skips taken", small, leasesOf("10.244.1.0/24", "10.244.2.0/24"), 0, "10.244.3.0/24"},
		{"k counts only free", small, leasesOf("10.244.2.0/24"), 1, "10.244.3.0/24"},
		{"lease outside the range ignored", small, leasesOf("10.244.9.0/24", "10.244.0.0/24"), 0, "10.244.1.0/24"},
		{"shorter old lease covers several", small, leasesOf("10.244.0.0/22"), 0, "10.244.4.0/24"},
		{"longer old lease blocks its /24", small, leasesOf("10.244.1.128/25"), 0, "10.244.2.0/24"},
		{"other family ignored", small, leasesOf("fd00::/64"), 0, "10.244.1.0/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sn, sn6, err := Allocate(mustConfig(t, tt.config), tt.leases, nthFree(tt.k))
			if err != nil {
				t.Fatal(err)
			}
			if sn.String() != tt.want || sn6.IsValid() {
				t.Errorf("Allocate = %s, %s; want %s", sn, sn6, tt.want)
			}
		})
	}
}

func TestAllocateExhausted(t *testing.T) {
	cfg := mustConfig(t, `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`)
	var leases []Lease
	for i := range uint64(255) {
		leases = append(leases, Lease{Subnet: NthSubnet(cfg.SubnetMin, 24, i)})
	}
	_, _, err := Allocate(cfg, leases, rand.Uint64N)
	want := "no free subnet in 10.244.0.0/16 (10.244.1.0–10.244.255.0: 255 of 255 leased)"
	if err == nil || err.Error() != want || !errors.Is(err, ErrNoFreeSubnet) {
		t.Fatalf("error %v, want %q wrapping ErrNoFreeSubnet", err, want)
	}
	if used, total := Usage(cfg, leases[:10]); used != 10 || total != 255 {
		t.Errorf("Usage = %d of %d, want 10 of 255", used, total)
	}
}

func TestAllocateDualStackPairs(t *testing.T) {
	cfg := mustConfig(t, `{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/48","Backend":{"Type":"vxlan"}}`)
	// Pair 0 is blocked by its IPv4 half, pair 1 by its IPv6 half.
	leases := []Lease{
		{Subnet: netip.MustParsePrefix("10.244.1.0/24"), IPv6Subnet: netip.MustParsePrefix("fd00:10:244:99::/64")},
		{Subnet: netip.MustParsePrefix("10.244.99.0/24"), IPv6Subnet: netip.MustParsePrefix("fd00:10:244:2::/64")},
	}
	sn, sn6, err := Allocate(cfg, leases, nthFree(0))
	if err != nil {
		t.Fatal(err)
	}
	if sn.String() != "10.244.3.0/24" || sn6.String() != "fd00:10:244:3::/64" {
		t.Errorf("Allocate = %s & %s, want 10.244.3.0/24 & fd00:10:244:3::/64", sn, sn6)
	}
	if used, total := Usage(cfg, leases); total != 255 || used != 4 {
		t.Errorf("Usage = %d of %d, want 4 of 255 (pairs 0, 1, 98 and 152)", used, total)
	}
}

// TestAllocateHugeRange checks a range of millions of subnets with many
// leases: every pick is free and distinct, with no enumeration of the range.
func TestAllocateHugeRange(t *testing.T) {
	cfg := mustConfig(t, `{"Network":"10.0.0.0/8","SubnetLen":30,"EnableIPv6":true,"IPv6Network":"fd00::/32","Backend":{"Type":"vxlan"}}`)
	r := rand.New(rand.NewPCG(1, 2))
	var leases []Lease
	seen := map[netip.Prefix]bool{}
	for range 3000 {
		sn, sn6, err := Allocate(cfg, leases, r.Uint64N)
		if err != nil {
			t.Fatal(err)
		}
		if seen[sn] || seen[sn6] {
			t.Fatalf("Allocate returned %s & %s twice", sn, sn6)
		}
		seen[sn], seen[sn6] = true, true
		leases = append(leases, Lease{Subnet: sn, IPv6Subnet: sn6})
	}
	if used, total := Usage(cfg, leases); used != 3000 || total != 1<<22-1 {
		t.Errorf("Usage = %d of %d", used, total)
	}
}

func TestFitsAndPrevious(t *testing.T) {
	v4 := mustConfig(t, `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`)
	dual := mustConfig(t, `{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/48","Backend":{"Type":"vxlan"}}`)
	tests := []struct {
		cfg     *Config
		sn, sn6 string
		fits    bool
		prev    string // what previous() returns, "" for nothing
	}{
		{v4, "10.244.3.0/24", "", true, "10.244.3.0/24"},
		{v4, "10.244.0.0/24", "", false, ""}, // below SubnetMin
		{v4, "10.245.3.0/24", "", false, ""},
		{v4, "10.244.3.0/25", "", false, ""},
		{v4, "10.244.3.0/24", "fd00:10:244:3::/64", false, "10.244.3.0/24"},
		{dual, "10.244.3.0/24", "fd00:10:244:3::/64", true, "10.244.3.0/24&fd00:10:244:3::/64"},
		{dual, "10.244.3.0/24", "fd00:10:244:7::/64", true, "10.244.3.0/24&fd00:10:244:7::/64"},
		{dual, "10.244.3.0/24", "", false, "10.244.3.0/24&fd00:10:244:3::/64"}, // moving to dual stack
		{dual, "10.244.3.0/24", "fd00:10:245:3::/64", false, "10.244.3.0/24&fd00:10:244:3::/64"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s&%s/ipv6=%v", tt.sn, tt.sn6, tt.cfg.EnableIPv6), func(t *testing.T) {
			l := Lease{Subnet: netip.MustParsePrefix(tt.sn)}
			if tt.sn6 != "" {
				l.IPv6Subnet = netip.MustParsePrefix(tt.sn6)
			}
			if got := Fits(tt.cfg, l); got != tt.fits {
				t.Errorf("Fits = %v, want %v", got, tt.fits)
			}
			sn, sn6, ok := newAllocation(tt.cfg, nil).previous(l.Subnet, l.IPv6Subnet)
			got := ""
			if ok {
				got = sn.String()
				if sn6.IsValid() {
					got += "&" + sn6.String()
				}
			}
			if got != tt.prev {
				t.Errorf("previous = %q, want %q", got, tt.prev)
			}
		})
	}
}
