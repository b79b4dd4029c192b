// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

var local = Local{Own4: netip.MustParsePrefix("10.244.1.0/24"), Dev4: 10, Underlay: 2}

func planOf(t *testing.T, leases ...subnet.Lease) *plan {
	t.Helper()
	p, problems := planLeases(local, leases)
	if len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
	return p
}

// stateOfPlan is a kernel that holds exactly the plan's entries.
func stateOfPlan(p *plan) *state {
	s := newState()
	for _, k := range p.sortedKeys() {
		e, _ := p.want(k)
		if !e.Direct {
			s.addNeigh(e.Neigh)
			s.addFDB(e.FDB)
		}
		s.addRoute(e.Route)
	}
	s.index()
	return s
}

// diffAll runs the differ over every planned peer, as a full reconcile does.
func diffAll(desired *plan, observed *state) []Op {
	var ops []Op
	for chunk := range diff(desired, desired.sortedKeys(), observed) {
		ops = append(ops, chunk...)
	}
	return ops
}

func opStrings(ops []Op) []string {
	var out []string
	for _, o := range ops {
		out = append(out, o.String())
	}
	return out
}

func TestDiff(t *testing.T) {
	p2, p3 := lease(2, "198.18.0.2", false), lease(3, "198.18.0.3", false)
	p2moved := p2
	p2moved.Attrs.BackendData = vxlanData(mac(0x22))
	foreign := dataplane.Route{Dst: netip.MustParsePrefix("10.244.2.0/24"), Gw: netip.MustParseAddr("10.244.2.0"),
		LinkIndex: 10, OnLink: true, Protocol: dataplane.RTProtoBoot}
	withForeign := stateOfPlan(planOf(t, p2))
	withForeign.addRoute(foreign)
	withForeign.index()
	tests := []struct {
		name     string
		desired  *plan
		observed *state
		want     []string
	}{
		{"converged", planOf(t, p2, p3), stateOfPlan(planOf(t, p2, p3)), nil},
		{"add: neighbour and fdb before the route", planOf(t, p2), newState(), []string{
			"set neigh 10.244.2.0 lladdr 02:00:00:00:00:02 dev 10",
			"set fdb 02:00:00:00:00:02 dst 198.18.0.2 dev 10",
			"replace route 10.244.2.0/24 via 10.244.2.0 dev 10 metric 183763456"}},
		{"remove: route first", planOf(t), stateOfPlan(planOf(t, p2)), []string{
			"del route 10.244.2.0/24 dev 10 proto 87 metric 183763456",
			"del neigh 10.244.2.0 dev 10",
			"del fdb 02:00:00:00:00:02 dst 198.18.0.2 dev 10"}},
		{"changed MAC: make before break", planOf(t, p2moved), stateOfPlan(planOf(t, p2)), []string{
			"set neigh 10.244.2.0 lladdr 02:00:00:00:00:22 dev 10",
			"set fdb 02:00:00:00:00:22 dst 198.18.0.2 dev 10",
			"del fdb 02:00:00:00:00:02 dst 198.18.0.2 dev 10"}},
		{"flanneld's route beside ours is removed last", planOf(t, p2), withForeign, []string{
			"del route 10.244.2.0/24 dev 10 proto 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, opStrings(diffAll(tt.desired, tt.observed))); d != "" {
				t.Errorf("ops (-want +got):\n%s", d)
			}
		})
	}
}

func TestPlanProblems(t *testing.T) {
	bad := func(f func(*subnet.Lease)) subnet.Lease {
		l := lease(5, "198.18.0.5", false)
		f(&l)
		return l
	}
	tests := []struct {
		name  string
		lease subnet.Lease
		want  string
	}{
		{"bad mac", bad(func(l *subnet.Lease) { l.Attrs.BackendData = []byte(`{"VtepMAC":"zz"}`) }), `MAC "zz"`},
		{"no mac", bad(func(l *subnet.Lease) { l.Attrs.BackendData = []byte(`{"VNI":1}`) }), "no VtepMAC"},
		{"no public ip", bad(func(l *subnet.Lease) { l.Attrs.PublicIP = netip.Addr{} }), "PublicIP missing"},
		{"other backend", bad(func(l *subnet.Lease) { l.Attrs.BackendType = "udp" }), `BackendType "udp"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, problems := planLeases(local, []subnet.Lease{lease(2, "198.18.0.2", false), tt.lease})
			if len(p.peers) != 1 || len(problems) != 1 || problems[0].Subnet != tt.lease.Subnet ||
				!strings.Contains(problems[0].Err.Error(), tt.want) {
				t.Errorf("plan = %d peers, problems %v; want the good peer and one problem naming %s with %q",
					len(p.peers), problems, tt.lease.Subnet, tt.want)
			}
		})
	}
}

// BenchmarkPlanDiff measures weft's own work (plan and diff) for 5,000 peers onto an empty device.
func BenchmarkPlanDiff(b *testing.B) {
	peers := manyPeers(benchPeers)
	for b.Loop() {
		p, _ := planLeases(local, peers)
		if len(diffAll(p, newState())) != 3*benchPeers {
			b.Fatal("wrong op count")
		}
	}
}
