// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"io"
	"log"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNegotiate(t *testing.T) {
	// What reference plugins answer to VERSION.
	v111 := []string{"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"}
	v140 := append(append([]string(nil), v111...), "1.1.0")
	tests := []struct {
		name, want string
		supported  []string
		wantV      string
		wantErr    bool
	}{
		{"same", "1.1.0", v140, "1.1.0", false},
		{"older delegate", "1.1.0", v111, "1.0.0", false},
		{"older runtime", "0.4.0", v140, "0.4.0", false},
		{"newest below, unordered", "1.1.0", []string{"0.4.0", "1.0.0", "0.3.1"}, "1.0.0", false},
		{"only newer", "0.4.0", []string{"1.0.0", "1.1.0"}, "", true},
		{"garbage ignored", "1.1.0", []string{"x", "0.4.0"}, "0.4.0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := negotiate(tt.want, tt.supported)
			if (err != nil) != tt.wantErr || got != tt.wantV {
				t.Errorf("negotiate(%s, %v) = %q, %v; want %q, error %v", tt.want, tt.supported, got, err, tt.wantV, tt.wantErr)
			}
		})
	}
	if supportsStatus(v111) || !supportsStatus(v140) {
		t.Errorf("supportsStatus: v1.1.1 list %v, v1.4.0 list %v", supportsStatus(v111), supportsStatus(v140))
	}
}

func TestWithRouteGateways(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{
			"default gateway of each family",
			`{"type":"bridge","ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.3.0/24"}],[{"subnet":"fd00::/64"}]],"routes":[{"dst":"10.244.0.0/16"},{"dst":"fd00::/48"}]}}`,
			`{"ipam":{"ranges":[[{"subnet":"10.244.3.0/24"}],[{"subnet":"fd00::/64"}]],"routes":[{"dst":"10.244.0.0/16","gw":"10.244.3.1"},{"dst":"fd00::/48","gw":"fd00::1"}],"type":"host-local"},"type":"bridge"}`,
		},
		{
			"range gateway, own gw kept, other keys kept",
			`{"type":"bridge","ipam":{"type":"host-local","ranges":[[{"subnet":"10.9.0.0/24","gateway":"10.9.0.254"}]],"routes":[{"dst":"10.0.0.0/8","mtu":1300},{"dst":"0.0.0.0/0","gw":"10.9.0.2"}]}}`,
			`{"ipam":{"ranges":[[{"subnet":"10.9.0.0/24","gateway":"10.9.0.254"}]],"routes":[{"dst":"10.0.0.0/8","gw":"10.9.0.254","mtu":1300},{"dst":"0.0.0.0/0","gw":"10.9.0.2"}],"type":"host-local"},"type":"bridge"}`,
		},
		{
			"no range of the family",
			`{"type":"bridge","ipam":{"type":"host-local","ranges":[[{"subnet":"10.9.0.0/24"}]],"routes":[{"dst":"fd00::/48"}]}}`,
			`{"type":"bridge","ipam":{"type":"host-local","ranges":[[{"subnet":"10.9.0.0/24"}]],"routes":[{"dst":"fd00::/48"}]}}`,
		},
		{
			"other delegate untouched",
			`{"type":"ptp","ipam":{"type":"host-local","ranges":[[{"subnet":"10.9.0.0/24"}]],"routes":[{"dst":"10.0.0.0/8"}]}}`,
			`{"type":"ptp","ipam":{"type":"host-local","ranges":[[{"subnet":"10.9.0.0/24"}]],"routes":[{"dst":"10.0.0.0/8"}]}}`,
		},
		{
			"unreadable ranges untouched",
			`{"type":"bridge","ipam":{"type":"host-local","ranges":"x","routes":[{"dst":"10.0.0.0/8"}]}}`,
			`{"type":"bridge","ipam":{"type":"host-local","ranges":"x","routes":[{"dst":"10.0.0.0/8"}]}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, string(withRouteGateways([]byte(tt.in)))); diff != "" {
				t.Errorf("withRouteGateways (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDelegateVersionsCache: VERSION runs once per binary and again once
// the binary changes. The "plugin" is a shell script that counts its runs.
func TestDelegateVersionsCache(t *testing.T) {
	dir := t.TempDir()
	plugin := filepath.Join(dir, "bridge")
	runs := filepath.Join(dir, "runs")
	script := func(versions string) string {
		return "#!/bin/sh\necho x >> " + runs + "\necho '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[" + versions + "]}'\n"
	}
	if err := os.WriteFile(plugin, []byte(script(`"0.4.0","1.0.0"`)), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CNI_PATH", dir)
	c := &call{conf: &NetConf{CNIVersion: "1.1.0", DataDir: filepath.Join(dir, "data")}, log: log.New(io.Discard, "", 0)}
	ask := func() []string {
		t.Helper()
		v, err := c.delegateVersions(context.Background(), "bridge")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	countRuns := func() int {
		b, _ := os.ReadFile(runs)
		return len(b) / 2
	}
	for range 3 {
		if got := ask(); !cmp.Equal(got, []string{"0.4.0", "1.0.0"}) {
			t.Fatalf("versions = %v", got)
		}
	}
	if n := countRuns(); n != 1 {
		t.Errorf("VERSION ran %d times for one binary, want 1", n)
	}
	// An upgrade: new contents and modification time.
	if err := os.WriteFile(plugin, []byte(script(`"1.0.0","1.1.0"`)), 0o755); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(plugin, future, future); err != nil {
		t.Fatal(err)
	}
	if got := ask(); !cmp.Equal(got, []string{"1.0.0", "1.1.0"}) {
		t.Errorf("after upgrade versions = %v", got)
	}
	if n := countRuns(); n != 2 {
		t.Errorf("VERSION ran %d times after the upgrade, want 2", n)
	}
}
