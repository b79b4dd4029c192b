// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package masq

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
)

func TestConfigValidate(t *testing.T) {
	p := netip.MustParsePrefix
	ok := Config{
		PodNetworks: []netip.Prefix{p("10.244.0.0/16"), p("fd00:10:244::/48")},
		NodeSubnets: []netip.Prefix{p("10.244.1.0/24"), p("fd00:10:244:1::/64")},
		Masquerade:  true,
	}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string // substring; "" for valid
	}{
		{name: "dual stack", edit: func(*Config) {}},
		{name: "forward only needs no node subnet", edit: func(c *Config) { c.Masquerade, c.NodeSubnets = false, nil }},
		{name: "no pod network", edit: func(c *Config) { c.PodNetworks = nil }, wantErr: "PodNetworks: want at least one"},
		{name: "host bits", edit: func(c *Config) { c.PodNetworks[0] = p("10.244.0.1/16") }, wantErr: "PodNetworks: 10.244.0.1/16 has host bits set, want 10.244.0.0/16"},
		{name: "zero length", edit: func(c *Config) { c.PodNetworks[0] = p("0.0.0.0/0") }, wantErr: "would match every address"},
		{name: "two per family", edit: func(c *Config) { c.PodNetworks[1] = p("10.245.0.0/16") }, wantErr: "at most one prefix per address family"},
		{name: "invalid", edit: func(c *Config) { c.NodeSubnets[0] = netip.Prefix{} }, wantErr: "NodeSubnets: invalid prefix"},
		{name: "subnet outside", edit: func(c *Config) { c.NodeSubnets[0] = p("10.250.1.0/24") }, wantErr: "NodeSubnets: 10.250.1.0/24 is not inside a pod network"},
		{name: "subnet wider", edit: func(c *Config) { c.NodeSubnets[0] = p("10.0.0.0/8") }, wantErr: "is not inside a pod network"},
		{name: "masquerade needs subnet", edit: func(c *Config) { c.NodeSubnets = c.NodeSubnets[:1] }, wantErr: "Masquerade needs this node's subnet inside fd00:10:244::/48"},
		{name: "negative interval", edit: func(c *Config) { c.Interval = -time.Second }, wantErr: "Interval: want a positive duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			c.PodNetworks = append([]netip.Prefix(nil), ok.PodNetworks...)
			c.NodeSubnets = append([]netip.Prefix(nil), ok.NodeSubnets...)
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Validate: %v, want an error containing %q", err, tt.wantErr)
			}
			if _, err := New(c); (err == nil) != (tt.wantErr == "") {
				t.Errorf("New: %v, want the Validate result", err)
			}
		})
	}
}

func TestPrefixMask(t *testing.T) {
	tests := []struct {
		prefix string
		want   []byte
	}{
		{"10.244.0.0/16", []byte{255, 255, 0, 0}},
		{"10.240.0.0/12", []byte{255, 240, 0, 0}},
		{"224.0.0.0/4", []byte{240, 0, 0, 0}},
		{"fd00:10:244::/48", []byte{255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, prefixMask(netip.MustParsePrefix(tt.prefix))); diff != "" {
			t.Errorf("prefixMask(%s) (-want +got):\n%s", tt.prefix, diff)
		}
	}
}

func TestRuleComment(t *testing.T) {
	xc := xt.Comment(ForwardComment)
	tests := []struct {
		name string
		rule nftables.Rule
		want string
	}{
		{name: "userdata", rule: nftables.Rule{UserData: comment(ForwardComment)}, want: ForwardComment},
		{name: "after another TLV", rule: nftables.Rule{UserData: append([]byte{7, 1, 0}, comment("x")...)}, want: "x"},
		{name: "xt comment match", rule: nftables.Rule{Exprs: []expr.Any{&expr.Match{Name: "comment", Info: &xc}}}, want: ForwardComment},
		{name: "none", rule: nftables.Rule{}, want: ""},
		{name: "truncated TLV", rule: nftables.Rule{UserData: []byte{0, 200, 'w'}}, want: ""},
		{name: "lone byte", rule: nftables.Rule{UserData: []byte{0}}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ruleComment(&tt.rule); got != tt.want {
				t.Errorf("ruleComment = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseLegacyRules(t *testing.T) {
	pod := netip.MustParsePrefix("10.244.0.0/16")
	want := legacyWant(pod)
	out := strings.Join([]string{
		"-P FORWARD DROP",
		"-A FORWARD -j DOCKER-USER",
		`-A FORWARD -s 10.244.0.0/16 -m comment --comment "weft forward" -j ACCEPT`,
		`-A FORWARD -s 10.244.0.0/16 -m comment --comment "weft forward" -j ACCEPT`,
		`-A FORWARD -s 10.9.0.0/16 -m comment --comment "weft forward" -j ACCEPT`,
		`-A FORWARD -d 10.244.0.0/16 -m comment --comment "someone else" -j ACCEPT`,
		"",
	}, "\n")
	extra, present := parseLegacyRules(out, want)
	wantExtra := [][]string{
		{"-s", "10.244.0.0/16", "-m", "comment", "--comment", ForwardComment, "-j", "ACCEPT"},
		{"-s", "10.9.0.0/16", "-m", "comment", "--comment", ForwardComment, "-j", "ACCEPT"},
	}
	if diff := cmp.Diff(wantExtra, extra); diff != "" {
		t.Errorf("extra (-want +got):\n%s", diff)
	}
	if !present[want[0]] || present[want[1]] {
		t.Errorf("present = %v, want only %v", present, want[0])
	}
}
