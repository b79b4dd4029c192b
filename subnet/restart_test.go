// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weft-net/weft/subnet"
)

func TestRestartChanges(t *testing.T) {
	parse := func(raw string) *subnet.Config {
		c, err := subnet.ParseConfig([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	old := parse(`{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`)
	for _, tc := range []struct {
		raw  string
		want []subnet.Change
	}{
		{`{"Network":"10.244.0.0/16","SubnetMin":"10.244.5.0","SubnetMax":"10.244.9.0","EnableNFTables":true,"Backend":{"Type":"vxlan"}}`, nil},
		{`{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":4,"Port":4789,"MTU":1400,"GBP":true,"Learning":true,"DirectRouting":true,"TxChecksumOffload":"off"}}`,
			[]subnet.Change{{"Backend.VNI", "1", "4"}, {"Backend.Port", "8472", "4789"}, {"Backend.MTU", "0", "1400"},
				{"Backend.GBP", "false", "true"}, {"Backend.Learning", "false", "true"}, {"Backend.DirectRouting", "false", "true"},
				{"Backend.TxChecksumOffload", "auto", "off"}}},
		{`{"Network":"10.0.0.0/8","SubnetLen":20,"Backend":{"Type":"vxlan"}}`,
			[]subnet.Change{{"Network", "10.244.0.0/16", "10.0.0.0/8"}, {"SubnetLen", "24", "20"}}},
	} {
		if diff := cmp.Diff(tc.want, subnet.RestartChanges(old, parse(tc.raw))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.raw, diff)
		}
	}
	if got := subnet.RestartChanges(nil, old); got != nil {
		t.Errorf("no running config: %v", got)
	}
}

// TestEffectiveRenewMargin: the Manager's warning threshold for a TTL.
func TestEffectiveRenewMargin(t *testing.T) {
	for _, tc := range []struct{ margin, ttl, want time.Duration }{
		{time.Hour, 24 * time.Hour, time.Hour},
		{time.Hour, 20 * time.Second, 4 * time.Second},  // flanneld's 60 min with a short TTL: a fifth
		{40 * time.Minute, time.Hour, 30 * time.Minute}, // never more than half
		{0, 24 * time.Hour, subnet.DefaultRenewMargin},
	} {
		if got := subnet.EffectiveRenewMargin(tc.margin, tc.ttl); got != tc.want {
			t.Errorf("EffectiveRenewMargin(%s, %s) = %s, want %s", tc.margin, tc.ttl, got, tc.want)
		}
	}
}
