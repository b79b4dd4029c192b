// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package masq

import (
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
)

// This file builds nftables expressions from netip values. The shapes are the
// ones nft(8) and iptables-nft generate, so that both tools print weft's rules
// back as ordinary rules (iptables-nft refuses to list a table holding rules
// it cannot parse, which would break Docker and kube-proxy).

// addrField selects the source or destination address of the IP header.
type addrField int

const (
	srcAddr addrField = iota
	dstAddr
)

// offset returns the field's offset in the IPv4 or IPv6 header.
func (f addrField) offset(v4 bool) uint32 {
	switch {
	case v4 && f == srcAddr:
		return 12
	case v4:
		return 16
	case f == srcAddr:
		return 8
	default:
		return 24
	}
}

// nfproto matches the packet's address family; an inet table needs it before
// any IP header match, as nft adds it itself.
func nfproto(v4 bool) []expr.Any {
	proto := byte(unix.NFPROTO_IPV6)
	if v4 {
		proto = unix.NFPROTO_IPV4
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}
}

// addrMatch matches (eq) or excludes (!eq) a prefix in one address field. It
// loads the whole address and masks it, as iptables-nft has always done, so
// every iptables-nft version can parse the rule; a full-length prefix needs
// no mask.
func addrMatch(f addrField, p netip.Prefix, eq bool) []expr.Any {
	v4 := p.Addr().Is4()
	size := uint32(p.Addr().BitLen() / 8)
	op := expr.CmpOpEq
	if !eq {
		op = expr.CmpOpNeq
	}
	es := []expr.Any{&expr.Payload{
		DestRegister: 1, Base: expr.PayloadBaseNetworkHeader,
		Offset: f.offset(v4), Len: size,
	}}
	if p.Bits() < p.Addr().BitLen() {
		es = append(es, &expr.Bitwise{
			SourceRegister: 1, DestRegister: 1, Len: size,
			Mask: prefixMask(p), Xor: make([]byte, size),
		})
	}
	return append(es, &expr.Cmp{Op: op, Register: 1, Data: p.Masked().Addr().AsSlice()})
}

// prefixMask returns the network mask of p as bytes.
func prefixMask(p netip.Prefix) []byte {
	mask := make([]byte, p.Addr().BitLen()/8)
	for i := range p.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return mask
}

// markMatch matches packets with every bit of mark set in the packet mark.
func markMatch(mark uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{
			SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(mark), Xor: make([]byte, 4),
		},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(mark)},
	}
}

func verdict(k expr.VerdictKind) expr.Any { return &expr.Verdict{Kind: k} }

// comment encodes a rule comment the way nft and iptables-nft do (a
// userdata TLV), so both show it.
func comment(s string) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, s)
}

// ruleComment returns a rule's comment, or "" without one. iptables-nft
// writes `-m comment` as an xt match, so a rule of ours that went through
// iptables-save and iptables-restore carries it that way.
func ruleComment(r *nftables.Rule) string {
	if c := userdataComment(r.UserData); c != "" {
		return c
	}
	for _, e := range r.Exprs {
		if m, ok := e.(*expr.Match); ok && m.Name == "comment" {
			if c, ok := m.Info.(*xt.Comment); ok {
				return string(*c)
			}
		}
	}
	return ""
}

// userdataComment parses the TLVs itself because userdata.Get trusts the
// lengths, and foreign rules' userdata is not ours to trust.
func userdataComment(b []byte) string {
	for len(b) >= 2 {
		typ, n := userdata.Type(b[0]), int(b[1])
		if len(b) < 2+n {
			return ""
		}
		if typ == userdata.TypeComment {
			return strings.TrimSuffix(string(b[2:2+n]), "\x00")
		}
		b = b[2+n:]
	}
	return ""
}

// concat joins expression lists into one rule body.
func concat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
