// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(`{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		EnableIPv4: true,
		Network:    netip.MustParsePrefix("10.244.0.0/16"),
		SubnetLen:  24,
		SubnetMin:  netip.MustParseAddr("10.244.1.0"),
		SubnetMax:  netip.MustParseAddr("10.244.255.0"),
		Backend:    BackendConfig{Type: "vxlan", VNI: 1, Port: 8472, TxChecksumOffload: "auto"},
	}
	if d := cmp.Diff(want, c, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}
	if n := c.SubnetCount(); n != 255 {
		t.Errorf("SubnetCount = %d, want 255", n)
	}
}

func TestParseConfigDefaultsTable(t *testing.T) {
	tests := []struct {
		name, json   string
		subnetLen    int
		min, max     string
		v6Len        int
		v6Min, v6Max string
	}{
		{"small network gets +2", `{"Network":"10.0.0.0/24","Backend":{"Type":"vxlan"}}`, 26, "10.0.0.64", "10.0.0.192", 0, "", ""},
		{"/22 gets 24", `{"Network":"10.0.0.0/22","Backend":{"Type":"vxlan"}}`, 24, "10.0.1.0", "10.0.3.0", 0, "", ""},
		{"/28 is the smallest", `{"Network":"10.0.0.0/28","Backend":{"Type":"vxlan"}}`, 30, "10.0.0.4", "10.0.0.12", 0, "", ""},
		{"case-insensitive keys", `{"network":"10.0.0.0/8","subnetlen":20,"backend":{"type":"VXLAN","vni":7}}`, 20, "10.0.16.0", "10.255.240.0", 0, "", ""},
		{"dual stack", `{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/48","Backend":{"Type":"vxlan"}}`,
			24, "10.244.1.0", "10.244.255.0", 64, "fd00:10:244:1::", "fd00:10:244:ffff::"},
		{"explicit range", `{"Network":"10.128.0.0/9","SubnetLen":24,"SubnetMin":"10.128.5.0","SubnetMax":"10.128.9.0","Backend":{"Type":"vxlan"}}`,
			24, "10.128.5.0", "10.128.9.0", 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if c.SubnetLen != tt.subnetLen || c.SubnetMin.String() != tt.min || c.SubnetMax.String() != tt.max {
				t.Errorf("got len %d min %s max %s, want %d %s %s", c.SubnetLen, c.SubnetMin, c.SubnetMax, tt.subnetLen, tt.min, tt.max)
			}
			if tt.v6Len != 0 && (c.IPv6SubnetLen != tt.v6Len || c.IPv6SubnetMin.String() != tt.v6Min || c.IPv6SubnetMax.String() != tt.v6Max) {
				t.Errorf("got v6 len %d min %s max %s, want %d %s %s", c.IPv6SubnetLen, c.IPv6SubnetMin, c.IPv6SubnetMax, tt.v6Len, tt.v6Min, tt.v6Max)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"subnetlen too long", `{"Network":"10.244.0.0/16","SubnetLen":31,"Backend":{"Type":"vxlan"}}`,
			"SubnetLen 31: must be between 18 and 30 for Network 10.244.0.0/16"},
		{"subnetlen too short", `{"Network":"10.244.0.0/16","SubnetLen":17,"Backend":{"Type":"vxlan"}}`,
			"SubnetLen 17: must be between 18 and 30 for Network 10.244.0.0/16"},
		{"subnetmin outside", `{"Network":"10.244.0.0/16","SubnetMin":"10.1.0.0","Backend":{"Type":"vxlan"}}`,
			"SubnetMin 10.1.0.0 is outside Network 10.244.0.0/16"},
		{"subnetmax unaligned", `{"Network":"10.244.0.0/16","SubnetMax":"10.244.3.7","Backend":{"Type":"vxlan"}}`,
			"SubnetMax 10.244.3.7 is not on a /24 boundary"},
		{"min above max", `{"Network":"10.244.0.0/16","SubnetMin":"10.244.9.0","SubnetMax":"10.244.3.0","Backend":{"Type":"vxlan"}}`,
			"SubnetMax 10.244.3.0 is below SubnetMin 10.244.9.0"},
		{"no backend", `{"Network":"10.244.0.0/16"}`, `Backend.Type missing: flanneld would use udp; set "Type":"vxlan"`},
		{"bogus backend", `{"Network":"10.244.0.0/16","Backend":{"Type":"bogus"}}`, `Backend.Type "bogus": unknown backend (known: vxlan)`},
		{"no network", `{"Backend":{"Type":"vxlan"}}`, "Network missing"},
		{"bad network", `{"Network":"10.244.0.0","Backend":{"Type":"vxlan"}}`, `Network "10.244.0.0": not an IPv4 CIDR`},
		{"v6 network as v4", `{"Network":"fd00::/48","Backend":{"Type":"vxlan"}}`, `Network "fd00::/48": not an IPv4 CIDR`},
		{"network too small", `{"Network":"10.0.0.0/29","Backend":{"Type":"vxlan"}}`, "Network 10.0.0.0/29: too small"},
		{"vni too big", `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":16777216}}`, "Backend.VNI 16777216: must be between 0 and 16777215"},
		{"port too big", `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","Port":70000}}`, "Backend.Port 70000"},
		{"mtu too small", `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","MTU":100}}`, "Backend.MTU 100"},
		{"offload", `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","TxChecksumOffload":"maybe"}}`, `Backend.TxChecksumOffload "maybe"`},
		{"v6 missing network", `{"Network":"10.244.0.0/16","EnableIPv6":true,"Backend":{"Type":"vxlan"}}`, "IPv6Network missing"},
		{"v6 subnetlen", `{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/48","IPv6SubnetLen":127,"Backend":{"Type":"vxlan"}}`,
			"IPv6SubnetLen 127: must be between 50 and 126 for IPv6Network fd00::/48"},
		{"no family", `{"EnableIPv4":false,"IPv6Network":"fd00::/48","Backend":{"Type":"vxlan"}}`,
			"EnableIPv4 and EnableIPv6 both false: no address family to lease subnets from"},
		{"ipv6 only without network", `{"EnableIPv4":false,"EnableIPv6":true,"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`,
			"IPv6Network missing: required when IPv6 is enabled"},
		{"wrong type", `{"Network":16,"Backend":{"Type":"vxlan"}}`, "key Network: got a JSON number, want string"},
		{"not json", `{"Network":`, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.json))
			if err == nil {
				t.Fatalf("ParseConfig accepted %s", tt.json)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %q does not match ErrInvalidConfig", err)
			}
		})
	}
}

func TestParseConfigReportsEveryProblem(t *testing.T) {
	_, err := ParseConfig([]byte(`{"Network":"10.244.0.0/16","SubnetLen":31,"Backend":{"Type":"bogus"}}`))
	if err == nil || !strings.Contains(err.Error(), "SubnetLen 31") || !strings.Contains(err.Error(), `Backend.Type "bogus"`) {
		t.Fatalf("want both problems reported, got %v", err)
	}
}

func TestConfigMarshalRoundTrip(t *testing.T) {
	in := `{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/48","Backend":{"Type":"vxlan","VNI":4,"DirectRouting":true}}`
	c, err := ParseConfig([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ParseConfig(b)
	if err != nil {
		t.Fatalf("re-parse %s: %v", b, err)
	}
	if d := cmp.Diff(c, c2, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("round trip (-first +second):\n%s", d)
	}
}

func TestUnknownKeys(t *testing.T) {
	got := UnknownKeys([]byte(`{"Network":"10.0.0.0/8","SubnetLne":24,"backend":{"type":"vxlan","VNl":1}}`))
	want := []string{"Backend.VNl", "SubnetLne"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("unknown keys (-want +got):\n%s", d)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`))
	f.Add([]byte(`{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/48","IPv6SubnetLen":100,"Backend":{"Type":"vxlan"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		if c.EnableIPv4 && (!c.Network.Contains(c.SubnetMin) || !c.Network.Contains(c.SubnetMax) || c.SubnetLen > 30) {
			t.Fatalf("accepted an out-of-bounds config: %+v", c)
		}
	})
}
