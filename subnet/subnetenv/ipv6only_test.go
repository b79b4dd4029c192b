// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnetenv

import (
	"net/netip"
	"testing"
)

// Golden: an IPv6-only node's file has exactly the lines flanneld v0.28.9
// writes in an IPv6-only network (measured): no FLANNEL_NETWORK, no
// FLANNEL_SUBNET. It reads back as written, and flanneld's own reads too.
func TestIPv6OnlyGolden(t *testing.T) {
	e := Env{
		IPv6Network: netip.MustParsePrefix("fd00:10:244::/48"),
		IPv6Subnet:  GatewayPrefix(netip.MustParsePrefix("fd00:10:244:e::/64")),
		MTU:         1430,
		IPMasq:      true,
	}
	const want = "FLANNEL_IPV6_NETWORK=fd00:10:244::/48\nFLANNEL_IPV6_SUBNET=fd00:10:244:e::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=true\n"
	if got := string(e.Marshal()); got != want {
		t.Errorf("IPv6-only file:\n%s\nwant:\n%s", got, want)
	}
	back, err := Parse([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if back.Subnet.IsValid() || len(back.Networks) != 0 || back.IPv6Subnet != e.IPv6Subnet || back.IPv6Network != e.IPv6Network || back.MTU != 1430 || !back.IPMasq {
		t.Errorf("read back %+v, want %+v", back, e)
	}
	flanneld := "FLANNEL_IPV6_NETWORK=fd00:10:244::/48\nFLANNEL_IPV6_SUBNET=fd00:10:244:e::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n"
	if f, err := Parse([]byte(flanneld)); err != nil || f.IPv6Subnet.String() != "fd00:10:244:e::1/64" || f.MTU != 1450 {
		t.Errorf("flanneld's IPv6-only file: %+v, %v", f, err)
	}
}
