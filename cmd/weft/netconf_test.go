// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/google/go-cmp/cmp"
)

func TestParseNetConf(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		want     *NetConf
		wantCode uint
		wantMsg  string
	}{
		{
			name: "defaults",
			in:   `{"cniVersion":"1.1.0","name":"weft","type":"weft"}`,
			want: &NetConf{
				CNIVersion: "1.1.0", Name: "weft", Type: "weft",
				SubnetFile: "/run/weft/subnet.env", DataDir: "/var/lib/cni/weft",
			},
		},
		{
			name: "flannel-style config with overrides and runtime keys",
			in: `{"cniVersion":"1.0.0","name":"pods","type":"weft","subnetFile":"/run/flannel/subnet.env",
				"dataDir":"/var/lib/cni/flannel","logFile":"/var/log/weft-cni.log",
				"delegate":{"hairpinMode":false},"ipam":{"dataDir":"/tmp/x"},
				"runtimeConfig":{"portMappings":[]},"prevResult":{"cniVersion":"1.0.0"},"args":{"cni":{}}}`,
			want: &NetConf{
				CNIVersion: "1.0.0", Name: "pods", Type: "weft",
				SubnetFile: "/run/flannel/subnet.env", DataDir: "/var/lib/cni/flannel",
				LogFile:       "/var/log/weft-cni.log",
				Delegate:      json.RawMessage(`{"hairpinMode":false}`),
				IPAM:          json.RawMessage(`{"dataDir":"/tmp/x"}`),
				RuntimeConfig: json.RawMessage(`{"portMappings":[]}`),
				PrevResult:    json.RawMessage(`{"cniVersion":"1.0.0"}`),
				Args:          json.RawMessage(`{"cni":{}}`),
			},
		},
		{
			name: "null delegate and ipam are absent",
			in:   `{"cniVersion":"1.1.0","name":"weft","type":"weft","delegate":null,"ipam":null}`,
			want: &NetConf{
				CNIVersion: "1.1.0", Name: "weft", Type: "weft",
				SubnetFile: "/run/weft/subnet.env", DataDir: "/var/lib/cni/weft",
			},
		},
		{
			name:     "not JSON",
			in:       `{"name":`,
			wantCode: types.ErrDecodingFailure,
			wantMsg:  "decode weft network config",
		},
		{
			name:     "relative subnetFile",
			in:       `{"name":"weft","subnetFile":"run/subnet.env"}`,
			wantCode: types.ErrInvalidNetworkConfig,
			wantMsg:  `"subnetFile" run/subnet.env is not an absolute path`,
		},
		{
			name:     "delegate not an object",
			in:       `{"name":"weft","delegate":"bridge"}`,
			wantCode: types.ErrInvalidNetworkConfig,
			wantMsg:  `"delegate" must be a JSON object`,
		},
		{
			name:     "no name",
			in:       `{"type":"weft"}`,
			wantCode: types.ErrInvalidNetworkConfig,
			wantMsg:  `"name" missing`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseNetConf([]byte(tt.in))
			if tt.wantMsg != "" {
				checkCNIError(t, err, tt.wantCode, tt.wantMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseNetConf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidAttachments(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		want       map[attachment]bool
		wantListed bool
	}{
		{name: "absent", in: `{"name":"weft"}`},
		{
			name:       "empty list: everything is stale",
			in:         `{"name":"weft","cni.dev/valid-attachments":[]}`,
			want:       map[attachment]bool{},
			wantListed: true,
		},
		{
			name:       "current key",
			in:         `{"name":"weft","cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]}`,
			want:       map[attachment]bool{{"a", "eth0"}: true},
			wantListed: true,
		},
		{
			name:       "legacy key",
			in:         `{"name":"weft","cni.dev/attachments":[{"containerID":"b","ifname":"net1"}]}`,
			want:       map[attachment]bool{{"b", "net1"}: true},
			wantListed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseNetConf([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got, listed, err := c.validAttachments()
			if err != nil {
				t.Fatal(err)
			}
			if listed != tt.wantListed {
				t.Errorf("listed = %v, want %v", listed, tt.wantListed)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("validAttachments (-want +got):\n%s", diff)
			}
		})
	}
}

func checkCNIError(t *testing.T, err error, code uint, msg string) {
	t.Helper()
	var te *types.Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v is not a CNI error", err)
	}
	if te.Code != code {
		t.Errorf("code = %d, want %d (%s)", te.Code, code, te.Msg)
	}
	if !strings.Contains(te.Msg, msg) {
		t.Errorf("message %q does not contain %q", te.Msg, msg)
	}
}
