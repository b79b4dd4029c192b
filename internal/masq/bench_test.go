// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package masq

import (
	"testing"

	"github.com/google/nftables"

	"github.com/weft-net/weft/internal/nstest"
)

// benchManager returns an applied Manager in a namespace whose iptables-nft
// FORWARD chain holds weft's rules.
func benchManager(b *testing.B) (*Manager, *nstest.NS) {
	b.Helper()
	ns := nstest.New(b)
	ns.MustRun(b, "iptables-nft", "-P", "FORWARD", "DROP")
	m, err := New(testConfig(), WithNetNSFd(int(ns.Handle)))
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Apply(); err != nil {
		b.Fatal(err)
	}
	return m, ns
}

// BenchmarkCheckConverged is the cost of one periodic check on a node whose
// rules are right: what Run spends every Interval.
func BenchmarkCheckConverged(b *testing.B) {
	m, _ := benchManager(b)
	for b.Loop() {
		if changed, err := m.ensure(true); err != nil || len(changed) > 0 {
			b.Fatalf("ensure: changed %v, %v", changed, err)
		}
	}
}

// BenchmarkRepairTable is the cost of noticing a deleted table and writing
// it back in one batch.
func BenchmarkRepairTable(b *testing.B) {
	m, _ := benchManager(b)
	for b.Loop() {
		b.StopTimer()
		del := m.batch()
		del.DelTable(&nftables.Table{Name: TableName, Family: nftables.TableFamilyINet})
		err := del.Flush()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if changed, err := m.ensure(false); err != nil || len(changed) != 1 {
			b.Fatalf("ensure: changed %v, %v", changed, err)
		}
	}
}
