// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fuzzWorld is a small universe of keys and values, so that random
// sequences often collide on subnets (duplicates, promotions).
var (
	fuzzV4 = []netip.Prefix{
		netip.MustParsePrefix("10.244.1.0/24"), netip.MustParsePrefix("10.244.2.0/24"),
		netip.MustParsePrefix("10.244.3.0/24"), netip.MustParsePrefix("10.244.2.0/25"),
		netip.MustParsePrefix("10.99.0.0/24"), {},
	}
	fuzzV6 = []netip.Prefix{
		{}, netip.MustParsePrefix("fd00:10:244:1::/64"), netip.MustParsePrefix("fd00:10:244:2::/64"),
		netip.MustParsePrefix("fd00:99::/64"),
	}
	fuzzIPs  = []string{"198.18.0.1", "198.18.0.2", "198.18.0.3"}
	fuzzMACs = []string{"aa:00:00:00:00:01", "aa:00:00:00:00:02", "aa:00:00:00:00:03"}
)

func fuzzAttrs(b byte) (LeaseAttrs, int64) {
	ip := fuzzIPs[int(b)%3]
	mac := fuzzMACs[int(b>>2)%3]
	vni := 1 + int(b>>4)%2*(int(b>>6)%2)
	a := LeaseAttrs{
		PublicIP: netip.MustParseAddr(ip), PublicIPv6: netip.MustParseAddr("2001:db8:18::" + ip[len("198.18.0."):]),
		BackendType: BackendVXLAN,
	}
	if b&0x80 == 0 || b&0x20 == 0 {
		a.BackendData = []byte(fmt.Sprintf(`{"VNI":%d,"VtepMAC":"%s"}`, vni, mac))
		a.BackendV6Data = a.BackendData
	}
	id := int64(0)
	if b&0x20 != 0 {
		id = 7
	}
	return a, id
}

func fuzzLocal(b byte) Local {
	l := Local{
		PublicIP: netip.MustParseAddr(fuzzIPs[0]), PublicIPv6: netip.MustParseAddr("2001:db8:18::1"),
		VTEPMACs: []MAC{mustMAC(fuzzMACs[0])},
	}
	if b&1 != 0 {
		l.Subnet = fuzzV4[int(b>>1)%3]
		l.IPv6Subnet = fuzzV6[int(b>>3)%3]
	}
	if b&0x20 != 0 {
		l.Routes = []Route{{Dst: netip.MustParsePrefix("10.244.3.0/26")}, {Dst: netip.MustParsePrefix("0.0.0.0/0")}}
	}
	if b&0x40 != 0 {
		l.Addrs = []netip.Addr{netip.MustParseAddr("10.244.2.7")}
	}
	return l
}

func mustMAC(s string) MAC {
	m, err := ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// FuzzAdmitter proves the incremental Admitter equal to Admit: after every
// step of a random sequence of puts, deletes and local changes its result
// equals Admit over the same leases, and the events it emitted, applied to
// a set, give exactly its admitted leases.
func FuzzAdmitter(f *testing.F) {
	f.Add(byte(0), []byte{0, 1, 2, 3, 0x41, 0x22, 0x10, 0x81, 3, 4})
	f.Add(byte(3), []byte{0x05, 0x11, 0x09, 0x13, 0x85, 0x40, 0x05, 0x11, 0xc3, 0x27})
	f.Add(byte(1), []byte{0x02, 0x00, 0x0a, 0x01, 0x12, 0x02, 0x82, 0x00, 0xc1, 0x61, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, mode byte, ops []byte) {
		cfg := &Config{EnableIPv4: true, Network: netip.MustParsePrefix("10.244.0.0/16"), SubnetLen: 24,
			Backend: BackendConfig{Type: BackendVXLAN, VNI: 1}}
		if mode&1 != 0 {
			cfg.EnableIPv6, cfg.IPv6Network, cfg.IPv6SubnetLen = true, netip.MustParsePrefix("fd00:10:244::/48"), 64
		}
		if mode&2 != 0 {
			cfg.EnableIPv4, cfg.Network = false, netip.Prefix{}
		}
		a := NewAdmitter(cfg, fuzzLocal(mode>>2))
		store := map[string]Lease{}
		view := map[string]Lease{}
		rev := int64(0)
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i], ops[i+1]
			var d Delta
			switch op % 4 {
			case 0, 1: // put
				sn, sn6 := fuzzV4[int(op>>2)%len(fuzzV4)], fuzzV6[int(op>>5)%len(fuzzV6)]
				if !sn.IsValid() && !sn6.IsValid() {
					continue
				}
				attrs, id := fuzzAttrs(arg)
				rev++
				l := Lease{Subnet: sn, IPv6Subnet: sn6, Attrs: attrs, LeaseID: id, ModRevision: rev, CreateRevision: rev}
				if old, ok := store[l.Key()]; ok {
					l.CreateRevision = old.CreateRevision
				}
				store[l.Key()] = l
				d = a.Apply([]Event{{Type: EventAdded, Lease: l}})
			case 2: // delete
				keys := sortedKeys(store)
				if len(keys) == 0 {
					continue
				}
				l := store[keys[int(arg)%len(keys)]]
				delete(store, l.Key())
				rev++
				d = a.Apply([]Event{RemovedEvent(l)})
			case 3:
				d = a.SetLocal(fuzzLocal(arg))
			}
			applyView(view, d)
			leases := make([]Lease, 0, len(store))
			for _, k := range sortedKeys(store) {
				leases = append(leases, store[k])
			}
			want := Admit(cfg, a.Local(), leases)
			got := a.Result()
			if diff := cmp.Diff(want, got, leaseCmp); diff != "" {
				t.Fatalf("step %d (op %#x arg %#x): Admitter differs from Admit (-Admit +Admitter):\n%s", i/2, op, arg, diff)
			}
			counts := map[Reason]int{}
			for _, r := range want.Rejected {
				counts[r.Reason]++
			}
			if diff := cmp.Diff(counts, a.Rejections()); diff != "" {
				t.Fatalf("step %d: rejection counts (-want +got):\n%s", i/2, diff)
			}
			var inView []Lease
			for _, k := range sortedKeys(view) {
				inView = append(inView, view[k])
			}
			if diff := cmp.Diff(want.Admitted, inView, leaseCmp); diff != "" {
				t.Fatalf("step %d: events applied to a set differ from the admitted leases (-admitted +events):\n%s", i/2, diff)
			}
		}
	})
}

// leaseCmp compares leases field by field (netip values by ==).
var leaseCmp = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

func applyView(view map[string]Lease, d Delta) {
	for _, ev := range d.Events {
		if ev.Type == EventRemoved {
			delete(view, ev.Lease.Key())
		} else {
			view[ev.Lease.Key()] = ev.Lease
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
