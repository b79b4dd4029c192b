// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/weft-net/weft/subnet"
)

// TestGuardRefusesUnderlayRoutes: whatever leases the caller passes, planning
// never emits a route that covers our underlay address, the peer's public
// IP or its DirectRouting gateway; the other peers are planned as usual.
func TestGuardRefusesUnderlayRoutes(t *testing.T) {
	l := local
	l.UnderlayAddrs = []netip.Addr{netip.MustParseAddr("198.18.0.1")}
	l.Direct = []netip.Prefix{netip.MustParsePrefix("198.18.0.1/16")}
	withSubnet := func(base subnet.Lease, sn, public string) subnet.Lease {
		base.Subnet = netip.MustParsePrefix(sn)
		base.Attrs.PublicIP = netip.MustParseAddr(public)
		return base
	}
	tests := []struct {
		name  string
		lease subnet.Lease
		want  string
	}{
		{"covers our underlay address", withSubnet(lease(5, "198.19.0.11", false), "198.18.0.0/24", "198.19.0.11"),
			"route 198.18.0.0/24 would cover underlay address 198.18.0.1"},
		{"covers the peer's public IP", withSubnet(lease(6, "10.244.6.9", false), "10.244.6.0/24", "10.244.6.9"),
			"route 10.244.6.0/24 would cover the peer's public IP 10.244.6.9"},
		{"covers its DirectRouting gateway", withSubnet(lease(7, "198.18.7.9", false), "198.18.7.0/24", "198.18.7.9"),
			"route 198.18.7.0/24 would cover the peer's public IP 198.18.7.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := lease(2, "198.18.0.2", false)
			p, problems := planLeases(l, []subnet.Lease{good, tt.lease})
			if _, ok := p.peers[tt.lease.Subnet]; ok {
				t.Errorf("planned %s", tt.lease.Subnet)
			}
			if _, ok := p.peers[good.Subnet]; !ok {
				t.Errorf("the good peer %s was not planned", good.Subnet)
			}
			if len(problems) != 1 || !strings.Contains(problems[0].Err.Error(), tt.want) {
				t.Errorf("problems %v, want one saying %q", problems, tt.want)
			}
		})
	}
}
