// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

// v6Links is a node whose underlay has only IPv6 and whose only default
// route is IPv6.
type v6Links struct{}

func (v6Links) Links() ([]dataplane.Link, error) {
	return []dataplane.Link{{Index: 2, Name: "eth0", MTU: 1500, Up: true,
		Addrs: []netip.Prefix{netip.MustParsePrefix("fe80::1/64"), netip.MustParsePrefix("2001:db8:18::5/64")}}}, nil
}

func (v6Links) RouteGet(netip.Addr) (dataplane.Route, error) {
	return dataplane.Route{}, errors.New("none")
}

func (v6Links) DefaultRouteLink(f dataplane.Family) (int, error) {
	if f == dataplane.IPv6 {
		return 2, nil
	}
	return 0, errors.New("no IPv4 default route")
}

// In an IPv6-only network the underlay needs no IPv4 address and, without
// --iface, is the interface of the IPv6 default route.
func TestSelectUnderlayIPv6Only(t *testing.T) {
	v6, err := subnet.ParseConfig([]byte(`{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/48","Backend":{"Type":"vxlan"}}`))
	if err != nil {
		t.Fatal(err)
	}
	ext, why, err := selectUnderlay(v6Links{}, &Options{}, v6)
	if err != nil || ext.Name != "eth0" || ext.IfaceAddr.IsValid() || ext.PublicIPv6 != netip.MustParseAddr("2001:db8:18::5") || why != "default route" {
		t.Errorf("IPv6-only: %+v (%s), %v; want eth0 with 2001:db8:18::5 and no IPv4", ext, why, err)
	}
	if nodeIP(ext) != ext.PublicIPv6 {
		t.Errorf("nodeIP = %v, want the PublicIPv6", nodeIP(ext))
	}
	v4, err := subnet.ParseConfig([]byte(`{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := selectUnderlay(v6Links{}, &Options{}, v4); err == nil || !strings.Contains(err.Error(), "IPv4 default route") {
		t.Errorf("IPv4 network on an IPv6-only node: %v, want an error about the IPv4 default route", err)
	}
}
