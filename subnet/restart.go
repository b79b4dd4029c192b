// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"fmt"
	"time"
)

// Change is one setting that differs between two network configs.
type Change struct {
	Key string `json:"key"` // JSON key, Backend ones as Backend.VNI
	Old string `json:"old"`
	New string `json:"new"`
}

func (c Change) String() string { return fmt.Sprintf("%s %s → %s", c.Key, c.Old, c.New) }

// RestartChanges lists the settings weftd reads only at start that differ
// between the config it runs with (old) and a new one: the address
// families, the networks and subnet lengths its lease and admission use, and
// every Backend key (the device is built from them). Such a change takes
// effect on a node only when its weftd restarts. SubnetMin/SubnetMax and
// EnableNFTables are not among them: they matter only to the allocation of a
// new lease, and weftd does not use EnableNFTables. weftd (to log the change
// once) and weftctl (to refuse it without --force) share this list.
func RestartChanges(old, cfg *Config) []Change {
	if old == nil || cfg == nil {
		return nil
	}
	var out []Change
	add := func(key string, a, b any) {
		if a != b {
			out = append(out, Change{Key: key, Old: fmt.Sprint(a), New: fmt.Sprint(b)})
		}
	}
	add("EnableIPv4", old.EnableIPv4, cfg.EnableIPv4)
	add("EnableIPv6", old.EnableIPv6, cfg.EnableIPv6)
	add("Network", old.Network, cfg.Network)
	add("SubnetLen", old.SubnetLen, cfg.SubnetLen)
	add("IPv6Network", old.IPv6Network, cfg.IPv6Network)
	add("IPv6SubnetLen", old.IPv6SubnetLen, cfg.IPv6SubnetLen)
	a, b := old.Backend, cfg.Backend
	add("Backend.Type", a.Type, b.Type)
	add("Backend.VNI", a.VNI, b.VNI)
	add("Backend.Port", a.Port, b.Port)
	add("Backend.MTU", a.MTU, b.MTU)
	add("Backend.GBP", a.GBP, b.GBP)
	add("Backend.Learning", a.Learning, b.Learning)
	add("Backend.DirectRouting", a.DirectRouting, b.DirectRouting)
	add("Backend.TxChecksumOffload", a.TxChecksumOffload, b.TxChecksumOffload)
	return out
}

// EffectiveRenewMargin is the "expiring soon" threshold weftd applies to a
// lease of the given TTL when configured with margin
// (--subnet-lease-renew-margin; 0 means DefaultRenewMargin): a margin not
// below the TTL (flanneld's 60 minutes with a short TTL) becomes a fifth of
// the TTL, and no margin exceeds half of it. weftd renews every third of the
// TTL at most, so a lease kept alive never has less than two thirds of its
// TTL left: a remaining time under this margin means nobody renews it.
// weftd's Manager and `weftctl doctor` both use it, so doctor raises no
// alarm weftd would not.
func EffectiveRenewMargin(margin, ttl time.Duration) time.Duration {
	if margin <= 0 {
		margin = DefaultRenewMargin
	}
	if ttl <= 0 {
		return margin
	}
	if margin >= ttl {
		margin = ttl / 5
	}
	return min(margin, ttl/2)
}
