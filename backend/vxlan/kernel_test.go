// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/weft-net/weft/subnet"
)

// ipLink is the part of `ip -d -j link show` the tests read.
type ipLink struct {
	IfName   string `json:"ifname"`
	MTU      int    `json:"mtu"`
	Address  string `json:"address"`
	Flags    []string
	LinkInfo struct {
		InfoKind string `json:"info_kind"`
		InfoData struct {
			ID       int    `json:"id"`
			Local    string `json:"local"`
			Local6   string `json:"local6"`
			Link     string `json:"link"`
			Port     int    `json:"port"`
			Learning bool   `json:"learning"`
			GBP      bool   `json:"gbp"`
		} `json:"info_data"`
	} `json:"linkinfo"`
}

func showLink(t *testing.T, e *env, name string) ipLink {
	t.Helper()
	out := e.hand.(kernelHand).ns.MustRun(t, "ip", "-d", "-j", "link", "show", name)
	var ls []ipLink
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 1 {
		t.Fatalf("parse ip -j link show %s: %v: %s", name, err, out)
	}
	return ls[0]
}

// TestKernelDeviceAttributes reads the device back with iproute2, not with
// weft's own code.
func TestKernelDeviceAttributes(t *testing.T) {
	e := newKernelEnv(t)
	startNode(t, e, subnet.BackendConfig{Type: "vxlan", VNI: 1, Port: 8472, MTU: 1400}, Options{DualStack: true}, lease(1, "198.18.0.1", true))
	l := showLink(t, e, "flannel.1")
	d := l.LinkInfo.InfoData
	if l.LinkInfo.InfoKind != "vxlan" || d.ID != 1 || d.Local != "198.18.0.1" || d.Port != 8472 || d.Learning ||
		d.Link != "eth0" || l.MTU != 1350 || l.Address != mac(1) || !contains(l.Flags, "UP") {
		t.Errorf("flannel.1 = %+v, want vxlan id 1 local 198.18.0.1 port 8472 nolearning dev eth0 mtu 1350 address %s UP", l, mac(1))
	}
	l6 := showLink(t, e, "flannel-v6.1")
	if d6 := l6.LinkInfo.InfoData; d6.Local6 != "2001:db8:18::1" || l6.MTU != 1330 || d6.Learning || l6.Address != mac(0x601) {
		t.Errorf("flannel-v6.1 = %+v, want local 2001:db8:18::1 mtu 1330 (1400-70) nolearning address %s", l6, mac(0x601))
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestKernelAdoptOrReplace: a compatible device (flanneld's) is adopted
// with its MAC; an incompatible one is replaced and the differing
// attribute logged.
func TestKernelAdoptOrReplace(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		replaced string // attribute logged, "" when adopted
	}{
		{"flanneld's device adopted", []string{"dstport", "8472", "nolearning"}, ""},
		{"other port replaced", []string{"dstport", "4789", "nolearning"}, "port"},
		{"learning replaced", []string{"dstport", "8472", "learning"}, "learning"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newKernelEnv(t)
			ns := e.hand.(kernelHand).ns
			ns.MustRun(t, append([]string{"ip", "link", "add", "flannel.1", "address", "02:0f:0f:0f:0f:0f", "type", "vxlan",
				"id", "1", "local", "198.18.0.1", "dev", "eth0"}, tt.args...)...)
			log, hook := test.NewNullLogger()
			own := lease(1, "198.18.0.1", false)
			n := startNode(t, e, subnet.BackendConfig{}, Options{Log: log}, own)
			d, _ := subnet.DecodeVXLANData(n.attrs.BackendData)
			if d.VtepMAC.String() != "02:0f:0f:0f:0f:0f" {
				t.Errorf("published VTEP MAC %s, want the existing device's 02:0f:0f:0f:0f:0f", d.VtepMAC)
			}
			got := ""
			for _, en := range hook.AllEntries() {
				if en.Message == "replacing incompatible device" && en.Level == logrus.WarnLevel {
					got, _ = en.Data["attribute"].(string)
				}
			}
			if got != tt.replaced {
				t.Errorf("replaced attribute logged = %q, want %q", got, tt.replaced)
			}
			if l := showLink(t, e, "flannel.1"); l.LinkInfo.InfoData.Port != 8472 || l.LinkInfo.InfoData.Learning {
				t.Errorf("device after setup: %+v, want port 8472, no learning", l.LinkInfo.InfoData)
			}
		})
	}
}

func TestChecksumPolicy(t *testing.T) {
	tests := []struct {
		mode, release string
		on, enforce   bool
	}{
		{"auto", "3.10.0-1160.el7.x86_64", false, true},
		{"auto", "4.19.112+", false, true},
		{"auto", "5.4.0-42-generic", false, true},
		{"auto", "5.6.19", false, true},
		{"auto", "5.7.0", true, false},
		{"auto", "5.15.0-91-generic", true, false},
		{"auto", "6.18.44-fc-v669", true, false},
		{"auto", "garbage", true, false},
		{"auto", "", true, false},
		{"on", "3.10.0", true, true},
		{"off", "6.18.0", false, true},
	}
	for _, tt := range tests {
		on, enforce := checksumPolicy(tt.mode, tt.release)
		if on != tt.on || enforce != tt.enforce {
			t.Errorf("checksumPolicy(%q, %q) = %t, %t; want %t, %t", tt.mode, tt.release, on, enforce, tt.on, tt.enforce)
		}
	}
}

// TestKernelChecksumOffload exercises the setting in a namespace and reads
// the feature back, with weft's ioctl and, when installed, ethtool.
func TestKernelChecksumOffload(t *testing.T) {
	tests := []struct {
		mode, release string
		want          bool
	}{
		{"off", "", false},
		{"on", "", true},
		{"auto", "4.19.0", false}, // affected kernel
		{"auto", "6.18.0", true},  // fixed kernel: left at the kernel's default
	}
	for _, tt := range tests {
		t.Run(tt.mode+" "+tt.release, func(t *testing.T) {
			e := newKernelEnv(t)
			cfg := subnet.BackendConfig{Type: "vxlan", VNI: 1, Port: 8472, TxChecksumOffload: tt.mode}
			n := startNode(t, e, cfg, Options{KernelRelease: tt.release}, lease(1, "198.18.0.1", false))
			waitFor(t, "ready", func() bool { return n.b.Status().Ready })
			got, err := e.dp.TxChecksum("flannel.1")
			mustT(t, err)
			if got != tt.want {
				t.Errorf("tx checksum offload = %t, want %t", got, tt.want)
			}
			if _, err := exec.LookPath("ethtool"); err != nil {
				return
			}
			out := e.hand.(kernelHand).ns.MustRun(t, "ethtool", "-k", "flannel.1")
			want := "tx-checksumming: off"
			if tt.want {
				want = "tx-checksumming: on"
			}
			if !strings.Contains(out, want) {
				t.Errorf("ethtool -k flannel.1 lacks %q:\n%s", want, out)
			}
		})
	}
}
