// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/google/go-cmp/cmp"

	"github.com/weft-net/weft/subnet/subnetenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const (
	// weftdEnv is what weftd writes for a single-stack node.
	weftdEnv = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"
	// flanneldDualEnv is a dual-stack file as flanneld writes it.
	flanneldDualEnv = "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\n" +
		"FLANNEL_IPV6_NETWORK=fd00:10:244::/48\nFLANNEL_IPV6_SUBNET=fd00:10:244:3::1/64\n" +
		"FLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n"
	multiNetEnv = "FLANNEL_NETWORK=10.244.0.0/16,10.245.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1400\nFLANNEL_IPMASQ=true\n"
)

// flanneldV6OnlyEnv is an IPv6-only file as flanneld v0.28.9 writes it.
const flanneldV6OnlyEnv = "FLANNEL_IPV6_NETWORK=fd00:10:244::/48\nFLANNEL_IPV6_SUBNET=fd00:10:244:e::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"

// TestBuildDelegate compares the delegate config built for each case with
// testdata/delegate/<name>.json (go test -run TestBuildDelegate -update
// rewrites them; review the diff).
func TestBuildDelegate(t *testing.T) {
	tests := []struct {
		name    string
		conf    string // weft's network config
		env     string // subnet.env; "" = gone
		release bool
	}{
		{name: "weftd-defaults", conf: `{"cniVersion":"1.1.0","name":"weft","type":"weft"}`, env: weftdEnv},
		{name: "flanneld-dual-stack", conf: `{"cniVersion":"1.1.0","name":"weft","type":"weft"}`, env: flanneldDualEnv},
		{
			// Pods get an IPv6 address only: one range, the IPv6 network's
			// route, and (isDefaultGateway, as the dist conflist sets) an
			// IPv6 default route from bridge.
			name: "ipv6-only",
			conf: `{"cniVersion":"1.1.0","name":"weft","type":"weft","delegate":{"isDefaultGateway":true}}`,
			env:  flanneldV6OnlyEnv,
		},
		{name: "network-list", conf: `{"cniVersion":"1.0.0","name":"weft","type":"weft"}`, env: multiNetEnv},
		{
			name: "dist-conflist-keys",
			conf: `{"cniVersion":"1.1.0","name":"weft","type":"weft",
				"delegate":{"isDefaultGateway":true},"ipam":{"dataDir":"/var/lib/cni/networks"}}`,
			env: weftdEnv,
		},
		{
			name: "user-overrides",
			conf: `{"cniVersion":"1.1.0","name":"weft","type":"weft",
				"delegate":{"bridge":"br-weft","MTU":1400,"hairpinMode":null,"promiscMode":true,
					"ipam":{"routes":[{"dst":"0.0.0.0/0"}],"resolvConf":"/etc/resolv.conf"}},
				"ipam":{"dataDir":"/srv/ipam","ranges":[[{"subnet":"10.9.0.0/24","rangeStart":"10.9.0.10"}]]}}`,
			env: weftdEnv,
		},
		{
			name: "other-delegate-type",
			conf: `{"cniVersion":"1.1.0","name":"weft","type":"weft","delegate":{"type":"ptp"}}`,
			env:  weftdEnv,
		},
		{
			name: "runtime-keys-pass-through",
			conf: `{"cniVersion":"1.1.0","name":"weft","type":"weft",
				"delegate":{"name":"not-this","cniVersion":"0.1.0"},
				"runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]},
				"args":{"cni":{"ips":["10.244.3.7"]}},
				"prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"eth0"}]}}`,
			env: weftdEnv,
		},
		{name: "release-with-env", conf: `{"cniVersion":"1.1.0","name":"weft","type":"weft"}`, env: weftdEnv, release: true},
		{name: "release-without-env", conf: `{"cniVersion":"1.1.0","name":"weft","type":"weft"}`, release: true},
		{
			name:    "release-without-env-user-ranges",
			conf:    `{"cniVersion":"1.1.0","name":"weft","type":"weft","ipam":{"ranges":[[{"subnet":"10.9.0.0/24"}]]}}`,
			release: true,
		},
		{
			name: "gc",
			conf: `{"cniVersion":"1.1.0","name":"weft","type":"weft",
				"cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}],
				"cni.dev/attachments":[{"containerID":"a","ifname":"eth0"}]}`,
			env:     weftdEnv,
			release: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseNetConf([]byte(tt.conf))
			if err != nil {
				t.Fatal(err)
			}
			var env *subnetenv.Env
			if tt.env != "" {
				e, err := subnetenv.Parse([]byte(tt.env))
				if err != nil {
					t.Fatal(err)
				}
				env = &e
			}
			got, err := buildDelegate(c, env, tt.release)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "delegate", tt.name+".json"), got)
		})
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("built config is not JSON: %v: %s", err, got)
	}
	pretty.WriteByte('\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), pretty.String()); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestBuildDelegateErrors(t *testing.T) {
	env, err := subnetenv.Parse([]byte(weftdEnv))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, conf, wantMsg string
	}{
		{"delegate type not a string", `{"name":"weft","delegate":{"type":1}}`, `"delegate"`},
		{"ipam not mergeable", `{"name":"weft","ipam":{"ranges":}}`, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseNetConf([]byte(tt.conf))
			if err != nil {
				checkCNIError(t, err, types.ErrDecodingFailure, tt.wantMsg)
				return
			}
			_, err = buildDelegate(c, &env, false)
			checkCNIError(t, err, types.ErrInvalidNetworkConfig, tt.wantMsg)
		})
	}
}

func TestMergeObjects(t *testing.T) {
	tests := []struct {
		name, base, over, want string
	}{
		{"empty over", `{"a":1}`, ``, `{"a":1}`},
		{"replace scalar", `{"a":1,"b":2}`, `{"a":3}`, `{"a":3,"b":2}`},
		{"case-insensitive key", `{"mtu":1450}`, `{"MTU":1400}`, `{"MTU":1400}`},
		{"null removes", `{"a":1,"b":2}`, `{"A":null}`, `{"b":2}`},
		{"objects merge deeply", `{"o":{"x":1,"y":{"z":1}}}`, `{"o":{"y":{"w":2}}}`, `{"o":{"x":1,"y":{"w":2,"z":1}}}`},
		{"arrays replace", `{"l":[1,2]}`, `{"l":[3]}`, `{"l":[3]}`},
		{"object replaces scalar", `{"o":1}`, `{"o":{"x":1}}`, `{"o":{"x":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mergeObjects([]byte(tt.base), []byte(tt.over))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("mergeObjects (-want +got):\n%s", diff)
			}
		})
	}
}
