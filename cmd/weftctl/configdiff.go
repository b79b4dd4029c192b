// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/weft-net/weft/subnet"
)

// orphanLease is a lease a new config would no longer accept.
type orphanLease struct {
	Key      string `json:"key"`
	PublicIP string `json:"publicIP,omitempty"`
	Kind     string `json:"kind"` // lease or reservation
	Reason   string `json:"reason"`
}

// orphaned lists the leases that fit the old config (or all leases, when
// there is no valid old config) but not the new one. A lease that already
// did not fit is not the new config's doing and does not block it.
func orphaned(oldRaw []byte, cfg *subnet.Config, leases []subnet.Lease) []orphanLease {
	var old *subnet.Config
	if len(oldRaw) > 0 {
		old, _ = subnet.ParseConfig(oldRaw)
	}
	out := []orphanLease{}
	for _, l := range leases {
		reason := orphanReason(cfg, l)
		if reason == "" || (old != nil && !subnet.Fits(old, l)) {
			continue
		}
		kind := "lease"
		if l.Reserved() {
			kind = "reservation"
		}
		out = append(out, orphanLease{Key: l.Key(), PublicIP: addrText(l.Attrs.PublicIP), Kind: kind, Reason: reason})
	}
	return out
}

// orphanReason says why a lease does not fit cfg, or "" when it does.
func orphanReason(cfg *subnet.Config, l subnet.Lease) string {
	if subnet.Fits(cfg, l) {
		return ""
	}
	if r := familyReason("", cfg.Network, cfg.SubnetLen, cfg.SubnetMin, cfg.SubnetMax, l.Subnet); r != "" {
		return r
	}
	switch {
	case cfg.EnableIPv6 && !l.IPv6Subnet.IsValid():
		return "it has no IPv6 subnet, and EnableIPv6 is true"
	case !cfg.EnableIPv6 && l.IPv6Subnet.IsValid():
		return fmt.Sprintf("it has the IPv6 subnet %s, and EnableIPv6 is false", l.IPv6Subnet)
	case cfg.EnableIPv6:
		if r := familyReason("IPv6", cfg.IPv6Network, cfg.IPv6SubnetLen, cfg.IPv6SubnetMin, cfg.IPv6SubnetMax, l.IPv6Subnet); r != "" {
			return r
		}
	}
	return "it is outside the allocation range"
}

func familyReason(name string, network netip.Prefix, sl int, lo, hi netip.Addr, sn netip.Prefix) string {
	switch {
	case !sn.IsValid():
		return fmt.Sprintf("it has no %s subnet", orIPv4(name))
	case !network.Contains(sn.Addr()) || sn.Bits() < network.Bits():
		return fmt.Sprintf("%s is outside %sNetwork %s", sn, name, network)
	case sn.Bits() != sl:
		return fmt.Sprintf("%s is a /%d, and %sSubnetLen is %d", sn, sn.Bits(), name, sl)
	case sn.Addr().Less(lo):
		return fmt.Sprintf("%s is below %sSubnetMin %s", sn, name, lo)
	case hi.Less(sn.Addr()):
		return fmt.Sprintf("%s is above %sSubnetMax %s", sn, name, hi)
	}
	return ""
}

func orIPv4(name string) string {
	if name == "" {
		return "IPv4"
	}
	return name
}

// lineDiff returns a diff of two texts in unified style (whole files, no
// hunks: configs are short), or "" when they are equal.
func lineDiff(a, b, nameA, nameB string) string {
	if a == b {
		return ""
	}
	x, y := splitLines(a), splitLines(b)
	// lcs[i][j] is the length of the longest common subsequence of x[i:] and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "--- %s\n+++ %s\n", nameA, nameB)
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			fmt.Fprintf(&sb, " %s\n", x[i])
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			fmt.Fprintf(&sb, "-%s\n", x[i])
			i++
		default:
			fmt.Fprintf(&sb, "+%s\n", y[j])
			j++
		}
	}
	return sb.String()
}

func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
