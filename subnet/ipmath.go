// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"math/bits"
	"net/netip"
)

// u128 is an address as a 128-bit unsigned integer, so IPv4 and IPv6 share one
// arithmetic path (IPv4 sits in the low 32 bits).
type u128 struct{ hi, lo uint64 }

func addrToU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := a.As16()
	var v u128
	for i := range 8 {
		v.hi = v.hi<<8 | uint64(b[i])
		v.lo = v.lo<<8 | uint64(b[8+i])
	}
	return v
}

func u128ToAddr(v u128, is4 bool) netip.Addr {
	if is4 {
		x := uint32(v.lo)
		return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
	}
	var b [16]byte
	for i := range 8 {
		b[7-i] = byte(v.hi >> (8 * i))
		b[15-i] = byte(v.lo >> (8 * i))
	}
	return netip.AddrFrom16(b)
}

func (v u128) add(w u128) u128 {
	lo, c := bits.Add64(v.lo, w.lo, 0)
	hi, _ := bits.Add64(v.hi, w.hi, c)
	return u128{hi, lo}
}

func (v u128) sub(w u128) u128 {
	lo, b := bits.Sub64(v.lo, w.lo, 0)
	hi, _ := bits.Sub64(v.hi, w.hi, b)
	return u128{hi, lo}
}

func (v u128) less(w u128) bool { return v.hi < w.hi || (v.hi == w.hi && v.lo < w.lo) }

func (v u128) shl(n uint) u128 {
	switch {
	case n == 0:
		return v
	case n >= 128:
		return u128{}
	case n >= 64:
		return u128{hi: v.lo << (n - 64)}
	default:
		return u128{hi: v.hi<<n | v.lo>>(64-n), lo: v.lo << n}
	}
}

func (v u128) shr(n uint) u128 {
	switch {
	case n == 0:
		return v
	case n >= 128:
		return u128{}
	case n >= 64:
		return u128{lo: v.hi >> (n - 64)}
	default:
		return u128{hi: v.hi >> n, lo: v.lo>>n | v.hi<<(64-n)}
	}
}

// SubnetIndex returns the position of subnet sn counted from first, both of
// length bitsLen, and whether it fits in a uint64 (it always does when the
// range between them holds fewer than 2^64 subnets).
func SubnetIndex(first, sn netip.Addr, bitsLen int) (uint64, bool) {
	d := addrToU128(sn).sub(addrToU128(first)).shr(uint(first.BitLen() - bitsLen))
	return d.lo, d.hi == 0
}

// NthSubnet returns the prefix i subnets of length bitsLen after first.
func NthSubnet(first netip.Addr, bitsLen int, i uint64) netip.Prefix {
	v := addrToU128(first).add(u128{lo: i}.shl(uint(first.BitLen() - bitsLen)))
	return netip.PrefixFrom(u128ToAddr(v, first.Is4()), bitsLen)
}

// lastSubnet returns the address of the last subnet of length bitsLen in network.
func lastSubnet(network netip.Prefix, bitsLen int) netip.Addr {
	hostBits := uint(network.Addr().BitLen() - network.Bits())
	size := u128{lo: 1}.shl(hostBits)
	step := u128{lo: 1}.shl(uint(network.Addr().BitLen() - bitsLen))
	v := addrToU128(network.Masked().Addr()).add(size).sub(step)
	return u128ToAddr(v, network.Addr().Is4())
}

// nextSubnet returns the address one subnet of length bitsLen after a.
func nextSubnet(a netip.Addr, bitsLen int) netip.Addr {
	return NthSubnet(a, bitsLen, 1).Addr()
}

// addrLess reports a < b for addresses of the same family.
func addrLess(a, b netip.Addr) bool { return addrToU128(a).less(addrToU128(b)) }
