// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"fmt"
	"net/netip"
	"slices"
)

// maxPoolSize caps the number of subnets a range is considered to hold. An
// IPv6 range can hold more than 2^64 subnets; nobody leases that many, and the
// cap keeps index arithmetic in uint64.
const maxPoolSize = 1 << 62

// pool is an allocation range: the subnets of length bits from first,
// numbered 0..size-1.
type pool struct {
	first netip.Addr
	bits  int
	size  uint64
}

func newPool(first, last netip.Addr, bits int) pool {
	if !first.IsValid() || !last.IsValid() || addrLess(last, first) {
		return pool{}
	}
	d := addrToU128(last).sub(addrToU128(first)).shr(uint(first.BitLen() - bits))
	if d.hi != 0 || d.lo >= maxPoolSize {
		return pool{first: first, bits: bits, size: maxPoolSize}
	}
	return pool{first: first, bits: bits, size: d.lo + 1}
}

func (p pool) nth(i uint64) netip.Prefix { return NthSubnet(p.first, p.bits, i) }

// contains reports whether sn is exactly one of the pool's subnets.
func (p pool) contains(sn netip.Prefix) bool {
	if !sn.IsValid() || sn.Bits() != p.bits || p.size == 0 || sn.Addr().Is4() != p.first.Is4() {
		return false
	}
	lo, _, ok := p.overlap(sn)
	return ok && p.nth(lo) == sn
}

// overlap returns the indexes [lo, hi] of the pool's subnets that sn
// overlaps, whatever sn's length (a lease from an older config may be
// shorter or longer than the current SubnetLen).
func (p pool) overlap(sn netip.Prefix) (lo, hi uint64, ok bool) {
	if !sn.IsValid() || p.size == 0 || sn.Addr().Is4() != p.first.Is4() {
		return 0, 0, false
	}
	bitLen := uint(p.first.BitLen())
	start := addrToU128(sn.Masked().Addr())
	end := start.add(ones(bitLen - uint(sn.Bits())))
	first := addrToU128(p.first)
	hostBits := bitLen - uint(p.bits)
	last := first.add(u128{lo: p.size}.shl(hostBits)).sub(u128{lo: 1})
	if end.less(first) || last.less(start) {
		return 0, 0, false
	}
	if start.less(first) {
		start = first
	}
	if last.less(end) {
		end = last
	}
	return start.sub(first).shr(hostBits).lo, end.sub(first).shr(hostBits).lo, true
}

// ones returns 2^n - 1.
func ones(n uint) u128 {
	if n >= 128 {
		return u128{^uint64(0), ^uint64(0)}
	}
	return u128{lo: 1}.shl(n).sub(u128{lo: 1})
}

// span is a closed interval [lo, hi] of subnet indexes.
type span struct{ lo, hi uint64 }

// mergeSpans sorts spans and joins overlapping and adjacent ones.
func mergeSpans(s []span) []span {
	slices.SortFunc(s, func(a, b span) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	out := s[:0]
	for _, x := range s {
		if n := len(out); n > 0 && x.lo <= out[n-1].hi+1 {
			out[n-1].hi = max(out[n-1].hi, x.hi)
			continue
		}
		out = append(out, x)
	}
	return out
}

// allocation is the view of a config's ranges and the leases that occupy
// them. IPv4 and IPv6 subnets are paired by index: pair i is the i-th IPv4
// subnet from SubnetMin and the i-th IPv6 subnet from IPv6SubnetMin, and a
// pair is free only when both are. In an IPv6-only network the v4 pool is
// empty and a "pair" is one IPv6 subnet.
type allocation struct {
	cfg    *Config
	v4, v6 pool
	size   uint64 // number of pairs (the IPv4 pool's size in single stack)
	taken  []span // union of the pairs an IPv4 or IPv6 lease overlaps, merged
	used   uint64 // number of pairs in taken
}

func newAllocation(cfg *Config, leases []Lease) *allocation {
	a := &allocation{cfg: cfg}
	if cfg.EnableIPv4 {
		a.v4 = newPool(cfg.SubnetMin, cfg.SubnetMax, cfg.SubnetLen)
		a.size = a.v4.size
	}
	if cfg.EnableIPv6 {
		a.v6 = newPool(cfg.IPv6SubnetMin, cfg.IPv6SubnetMax, cfg.IPv6SubnetLen)
		a.size = a.v6.size
		if cfg.EnableIPv4 {
			a.size = min(a.v4.size, a.v6.size)
		}
	}
	spans := make([]span, 0, len(leases))
	for _, l := range leases {
		if lo, hi, ok := a.v4.overlap(l.Subnet); ok && lo < a.size {
			spans = append(spans, span{lo, min(hi, a.size-1)})
		}
		if lo, hi, ok := a.v6.overlap(l.IPv6Subnet); ok && lo < a.size {
			spans = append(spans, span{lo, min(hi, a.size-1)})
		}
	}
	a.taken = mergeSpans(spans)
	for _, s := range a.taken {
		a.used += s.hi - s.lo + 1
	}
	return a
}

// fits reports whether a lease's subnets are valid subnets of the config's
// ranges, so that a node may keep using it.
func (a *allocation) fits(l Lease) bool {
	if !a.cfg.EnableIPv4 {
		return !l.Subnet.IsValid() && a.v6.contains(l.IPv6Subnet)
	}
	if !a.v4.contains(l.Subnet) {
		return false
	}
	if a.cfg.EnableIPv6 {
		return a.v6.contains(l.IPv6Subnet)
	}
	return !l.IPv6Subnet.IsValid()
}

// unused reports whether no lease overlaps sn (IPv4) or sn6 (IPv6).
func unused(leases []Lease, sn, sn6 netip.Prefix) bool {
	for _, l := range leases {
		if (sn.IsValid() && l.Subnet.Overlaps(sn)) || (sn6.IsValid() && l.IPv6Subnet.IsValid() && l.IPv6Subnet.Overlaps(sn6)) {
			return false
		}
	}
	return true
}

// previous returns the subnets to reuse from an old subnet.env when they fit
// the config. Without a previous IPv6 subnet (a node moving to dual stack) it
// pairs the IPv4 subnet with the IPv6 subnet of the same index.
func (a *allocation) previous(sn, sn6 netip.Prefix) (netip.Prefix, netip.Prefix, bool) {
	if !a.cfg.EnableIPv4 {
		if sn6 = sn6.Masked(); a.v6.contains(sn6) {
			return netip.Prefix{}, sn6, true
		}
		return netip.Prefix{}, netip.Prefix{}, false
	}
	sn = sn.Masked()
	if !a.v4.contains(sn) {
		return netip.Prefix{}, netip.Prefix{}, false
	}
	if !a.cfg.EnableIPv6 {
		return sn, netip.Prefix{}, true
	}
	if sn6 = sn6.Masked(); a.v6.contains(sn6) {
		return sn, sn6, true
	}
	i, _, _ := a.v4.overlap(sn)
	if i >= a.size {
		return netip.Prefix{}, netip.Prefix{}, false
	}
	return sn, a.v6.nth(i), true
}

// random picks a free pair uniformly among all free pairs, in O(len(taken)):
// the k-th free index is found by walking the gaps between taken spans, so a
// huge range is never enumerated.
func (a *allocation) random(randN func(n uint64) uint64) (netip.Prefix, netip.Prefix, bool) {
	freeN := a.size - a.used
	if freeN == 0 {
		return netip.Prefix{}, netip.Prefix{}, false
	}
	k := randN(freeN)
	var cursor uint64
	for _, s := range a.taken {
		gap := s.lo - cursor
		if k < gap {
			break
		}
		k -= gap
		cursor = s.hi + 1
	}
	return a.pair(cursor + k)
}

func (a *allocation) pair(i uint64) (netip.Prefix, netip.Prefix, bool) {
	if !a.cfg.EnableIPv4 {
		return netip.Prefix{}, a.v6.nth(i), true
	}
	if a.cfg.EnableIPv6 {
		return a.v4.nth(i), a.v6.nth(i), true
	}
	return a.v4.nth(i), netip.Prefix{}, true
}

// exhausted builds the error for a full range, in the shape
// "no free subnet in 10.244.0.0/16 (10.244.1.0–10.244.255.0: 255 of 255 leased)".
func (a *allocation) exhausted() error {
	c := a.cfg
	if !c.EnableIPv4 {
		return fmt.Errorf("%w in %s (%s–%s: %d of %d leased)",
			ErrNoFreeSubnet, c.IPv6Network, c.IPv6SubnetMin, c.IPv6SubnetMax, a.used, a.size)
	}
	if !c.EnableIPv6 {
		return fmt.Errorf("%w in %s (%s–%s: %d of %d leased)",
			ErrNoFreeSubnet, c.Network, c.SubnetMin, c.SubnetMax, a.used, a.size)
	}
	return fmt.Errorf("%w in %s and %s (%s–%s paired with %s–%s: %d of %d leased)",
		ErrNoFreeSubnet, c.Network, c.IPv6Network, c.SubnetMin, c.SubnetMax,
		c.IPv6SubnetMin, c.IPv6SubnetMax, a.used, a.size)
}

// Allocate picks a free subnet (and, in dual stack, the IPv6 subnet paired
// with it) for cfg given the current leases, uniformly at random among the
// free ones so that nodes starting together rarely pick the same one. randN
// returns a uniform number in [0, n). It never hands out a subnet a lease
// or reservation overlaps. Exhaustion is an error wrapping ErrNoFreeSubnet.
// Cost is O(N log N) in len(leases), whatever the size of the range. Pure.
func Allocate(cfg *Config, leases []Lease, randN func(n uint64) uint64) (netip.Prefix, netip.Prefix, error) {
	a := newAllocation(cfg, leases)
	sn, sn6, ok := a.random(randN)
	if !ok {
		return netip.Prefix{}, netip.Prefix{}, a.exhausted()
	}
	return sn, sn6, nil
}

// Usage returns how many of cfg's subnets (pairs, in dual stack) the leases
// occupy, and how many there are. Pure.
func Usage(cfg *Config, leases []Lease) (used, total uint64) {
	a := newAllocation(cfg, leases)
	return a.used, a.size
}

// Fits reports whether l's subnets are valid for cfg: the right length,
// inside SubnetMin..SubnetMax (and the IPv6 range in dual stack), and with
// an IPv6 subnet exactly when cfg enables IPv6 and an IPv4 one exactly when
// it enables IPv4. Pure.
func Fits(cfg *Config, l Lease) bool {
	return newAllocation(cfg, nil).fits(l)
}
