// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
)

// benchCfg is a large cluster's network: 10.128.0.0/9 holds 32,768 /24s.
var benchCfg = &Config{
	EnableIPv4: true, Network: netip.MustParsePrefix("10.128.0.0/9"), SubnetLen: 24,
	Backend: BackendConfig{Type: BackendVXLAN, VNI: 1},
}

// benchLocal is a node as the daemon would describe it: a few addresses,
// endpoints and foreign routes, so that stage 2 does real work per lease.
var benchLocal = Local{
	Subnet:    netip.MustParsePrefix("10.128.0.0/24"),
	PublicIP:  netip.MustParseAddr("172.16.0.0"),
	VTEPMACs:  []MAC{mustMAC("0a:58:00:00:00:00")},
	Addrs:     []netip.Addr{netip.MustParseAddr("172.16.0.0"), netip.MustParseAddr("10.128.0.0"), netip.MustParseAddr("10.128.0.1")},
	Endpoints: []netip.Addr{netip.MustParseAddr("172.31.0.10"), netip.MustParseAddr("172.31.0.11"), netip.MustParseAddr("172.31.0.12")},
	Routes: []Route{
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gw: netip.MustParseAddr("172.16.255.254")},
		{Dst: netip.MustParsePrefix("172.16.0.0/16")},
		{Dst: netip.MustParsePrefix("172.31.0.0/24"), Gw: netip.MustParseAddr("172.16.255.253")},
		{Dst: netip.MustParsePrefix("169.254.169.254/32"), Gw: netip.MustParseAddr("172.16.255.254")},
	},
}

// benchLeases returns n distinct valid leases as etcd would give them: node
// i holds the i-th /24 of benchCfg, with its own PublicIP, VTEP MAC and
// BackendData bytes (decoded from etcd, so not shared between leases).
func benchLeases(n int) []Lease {
	leases := make([]Lease, n)
	for i := range leases {
		sn := NthSubnet(benchCfg.Network.Addr(), 24, uint64(i))
		leases[i] = Lease{
			Subnet: sn, LeaseID: 0x7000_0000 + int64(i), ModRevision: int64(100 + i), CreateRevision: int64(100 + i),
			Attrs: LeaseAttrs{
				PublicIP:    netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)}),
				BackendType: BackendVXLAN,
				BackendData: fmt.Appendf(nil, `{"VNI":1,"VtepMAC":"0a:58:%02x:%02x:%02x:%02x"}`, byte(i>>24), byte(i>>16), byte(i>>8), byte(i)),
			},
		}
	}
	return leases
}

// BenchmarkAdmit5000 is the start-up and resync cost: one full admission.
func BenchmarkAdmit5000(b *testing.B) {
	leases := benchLeases(5000)
	if got := Admit(benchCfg, benchLocal, leases); len(got.Admitted) != 4999 || len(got.Rejected) != 0 {
		b.Fatalf("Admit: %d admitted, %d rejected, want 4999 and 0 (our own is neither)", len(got.Admitted), len(got.Rejected))
	}
	b.ReportAllocs()
	for b.Loop() {
		Admit(benchCfg, benchLocal, leases)
	}
}

// BenchmarkAdmitterApply5000 is the cost of one watch event (a peer's
// changed value) in a cluster of 5,000 nodes.
func BenchmarkAdmitterApply5000(b *testing.B) {
	leases := benchLeases(5000)
	a := NewAdmitter(benchCfg, benchLocal)
	a.Reset(leases)
	rev := int64(1_000_000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// A new revision of an existing key: the admitter stays at 5,000.
		l := leases[1+i%(len(leases)-1)]
		rev++
		l.ModRevision = rev
		if d := a.Apply([]Event{{Type: EventAdded, Lease: l}}); len(d.Events) != 1 {
			b.Fatalf("Apply(%s): %d events, want 1", l.Key(), len(d.Events))
		}
		i++
	}
}

// BenchmarkAdmitterMemory5000 reports what an Admitter holding 5,000
// leases keeps on the heap. B/5000-leases counts the leases too (the daemon
// keeps them only in the Admitter); B/5000-leases-overhead counts only the
// admitter's own structures, the leases being held elsewhere. The timed
// loop is NewAdmitter plus Reset, the admitter's start-up.
func BenchmarkAdmitterMemory5000(b *testing.B) {
	total := retainedHeap(b, func() any {
		a := NewAdmitter(benchCfg, benchLocal)
		a.Reset(benchLeases(5000))
		return a
	})
	leases := benchLeases(5000)
	overhead := retainedHeap(b, func() any {
		a := NewAdmitter(benchCfg, benchLocal)
		a.Reset(leases)
		return a
	})
	runtime.KeepAlive(leases)
	b.ReportAllocs()
	for b.Loop() {
		NewAdmitter(benchCfg, benchLocal).Reset(leases)
	}
	b.ReportMetric(float64(total), "B/5000-leases")
	b.ReportMetric(float64(overhead), "B/5000-leases-overhead")
}

// retainedHeap returns the heap still allocated, after a full GC, by what
// build returns.
func retainedHeap(b *testing.B, build func() any) uint64 {
	b.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	if after.HeapAlloc < before.HeapAlloc {
		return 0
	}
	return after.HeapAlloc - before.HeapAlloc
}
