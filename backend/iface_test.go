// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package backend

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/weft-net/weft/backend/dataplane"
)

func pfx(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

var testLinks = []dataplane.Link{
	{Index: 1, Name: "lo", MTU: 65536, Loopback: true, Up: true, Addrs: pfx("127.0.0.1/8", "::1/128")},
	{Index: 2, Name: "eth0", MTU: 1500, Up: true, Addrs: pfx("198.18.0.1/24", "fe80::1/64", "2001:db8:18::1/64")},
	{Index: 3, Name: "eth1", MTU: 9000, Up: true, Addrs: pfx("192.0.2.10/24", "192.0.2.11/24")},
	{Index: 4, Name: "wg0", MTU: 1420, Up: true},
}

func TestChooseInterface(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		name       string
		q          InterfaceQuery
		want       ExternalInterface
		wantReason string
		wantErr    string
	}{
		{"default route", InterfaceQuery{DefaultLinkIndex: 2},
			ExternalInterface{Name: "eth0", Index: 2, MTU: 1500, IfaceAddr: a("198.18.0.1"), PublicIP: a("198.18.0.1")}, "default route", ""},
		{"no default route", InterfaceQuery{}, ExternalInterface{}, "", "no default route"},
		{"iface by name", InterfaceQuery{Ifaces: []string{"eth1"}, DefaultLinkIndex: 2},
			ExternalInterface{Name: "eth1", Index: 3, MTU: 9000, IfaceAddr: a("192.0.2.10"), PublicIP: a("192.0.2.10")}, "--iface eth1", ""},
		{"iface by address picks that address", InterfaceQuery{Ifaces: []string{"192.0.2.11"}},
			ExternalInterface{Name: "eth1", Index: 3, MTU: 9000, IfaceAddr: a("192.0.2.11"), PublicIP: a("192.0.2.11")}, "--iface 192.0.2.11", ""},
		{"iface list skips missing and addressless", InterfaceQuery{Ifaces: []string{"nope", "wg0", "eth0"}},
			ExternalInterface{Name: "eth0", Index: 2, MTU: 1500, IfaceAddr: a("198.18.0.1"), PublicIP: a("198.18.0.1")}, "--iface eth0", ""},
		{"iface none fits", InterfaceQuery{Ifaces: []string{"nope", "wg0"}}, ExternalInterface{}, "",
			"--iface nope: no such interface\nwg0 (--iface wg0): no IPv4 address"},
		{"regex on name", InterfaceQuery{Regexes: []*regexp.Regexp{regexp.MustCompile(`^eth1$`)}},
			ExternalInterface{Name: "eth1", Index: 3, MTU: 9000, IfaceAddr: a("192.0.2.10"), PublicIP: a("192.0.2.10")}, "--iface-regex ^eth1$", ""},
		{"regex on address", InterfaceQuery{Regexes: []*regexp.Regexp{regexp.MustCompile(`^198\.18\.`)}},
			ExternalInterface{Name: "eth0", Index: 2, MTU: 1500, IfaceAddr: a("198.18.0.1"), PublicIP: a("198.18.0.1")}, `--iface-regex ^198\.18\.`, ""},
		{"iface first, regex when it fails", InterfaceQuery{Ifaces: []string{"nope0"}, Regexes: []*regexp.Regexp{regexp.MustCompile(`^eth1$`)}},
			ExternalInterface{Name: "eth1", Index: 3, MTU: 9000, IfaceAddr: a("192.0.2.10"), PublicIP: a("192.0.2.10")}, "--iface-regex ^eth1$", ""},
		{"iface wins over regex", InterfaceQuery{Ifaces: []string{"eth0"}, Regexes: []*regexp.Regexp{regexp.MustCompile(`^eth1$`)}},
			ExternalInterface{Name: "eth0", Index: 2, MTU: 1500, IfaceAddr: a("198.18.0.1"), PublicIP: a("198.18.0.1")}, "--iface eth0", ""},
		{"regex skips loopback", InterfaceQuery{Regexes: []*regexp.Regexp{regexp.MustCompile(`^lo$`)}}, ExternalInterface{}, "", "no interface name or address matches"},
		{"can reach", InterfaceQuery{CanReach: a("192.0.2.99"), Reach: dataplane.Route{LinkIndex: 3, Src: a("192.0.2.11")}},
			ExternalInterface{Name: "eth1", Index: 3, MTU: 9000, IfaceAddr: a("192.0.2.11"), PublicIP: a("192.0.2.11")}, "--iface-can-reach 192.0.2.99", ""},
		{"can reach without route", InterfaceQuery{CanReach: a("203.0.113.1")}, ExternalInterface{}, "", "--iface-can-reach 203.0.113.1: no route"},
		{"public ip override", InterfaceQuery{DefaultLinkIndex: 2, PublicIP: a("203.0.113.7")},
			ExternalInterface{Name: "eth0", Index: 2, MTU: 1500, IfaceAddr: a("198.18.0.1"), PublicIP: a("203.0.113.7")}, "default route", ""},
		{"dual stack skips link-local", InterfaceQuery{DefaultLinkIndex: 2, IPv6: true},
			ExternalInterface{Name: "eth0", Index: 2, MTU: 1500, IfaceAddr: a("198.18.0.1"), PublicIP: a("198.18.0.1"),
				IfaceAddrV6: a("2001:db8:18::1"), PublicIPv6: a("2001:db8:18::1")}, "default route", ""},
		{"dual stack needs ipv6", InterfaceQuery{Ifaces: []string{"eth1"}, IPv6: true}, ExternalInterface{}, "", "eth1 (--iface eth1): no global IPv6 address"},
		{"ipv6 only takes no ipv4", InterfaceQuery{Ifaces: []string{"eth0"}, IPv6: true, NoIPv4: true, PublicIP: a("203.0.113.7")},
			ExternalInterface{Name: "eth0", Index: 2, MTU: 1500, IfaceAddrV6: a("2001:db8:18::1"), PublicIPv6: a("2001:db8:18::1")}, "--iface eth0", ""},
		{"ipv6 only by address", InterfaceQuery{Ifaces: []string{"2001:db8:18::1"}, IPv6: true, NoIPv4: true, PublicIPv6: a("2001:db8:99::1")},
			ExternalInterface{Name: "eth0", Index: 2, MTU: 1500, IfaceAddrV6: a("2001:db8:18::1"), PublicIPv6: a("2001:db8:99::1")}, "--iface 2001:db8:18::1", ""},
		{"ipv6 only needs ipv6", InterfaceQuery{Ifaces: []string{"eth1"}, IPv6: true, NoIPv4: true}, ExternalInterface{}, "",
			"eth1 (--iface eth1): no global IPv6 address (the network is IPv6-only)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason, err := ChooseInterface(testLinks, tt.q)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got, cmpopts.EquateComparable(netip.Addr{})); d != "" {
				t.Errorf("interface (-want +got):\n%s", d)
			}
			if reason != tt.wantReason {
				t.Errorf("reason = %q, want %q", reason, tt.wantReason)
			}
		})
	}
}
