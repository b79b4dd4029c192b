// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseFlannelStyleFlags(t *testing.T) {
	var out bytes.Buffer
	c, err := parse([]string{
		"-etcd-endpoints=http://10.0.0.1:2379,http://10.0.0.2:2379", "--iface", "eth1", "--iface=198.18.0.5",
		"--iface-regex", "^en", "--public-ip", "198.18.0.9", "--ip-masq", "--subnet-lease-renew-margin", "30",
		"--subnet-lease-ttl", "2h", "-v=2", "--iptables-resync", "5", "--logtostderr",
	}, env(nil), &out)
	if err != nil {
		t.Fatal(err)
	}
	o := c.opts
	if strings.Join(o.Etcd.Endpoints, " ") != "http://10.0.0.1:2379 http://10.0.0.2:2379" {
		t.Errorf("endpoints %v", o.Etcd.Endpoints)
	}
	if strings.Join(o.Ifaces, " ") != "eth1 198.18.0.5" || o.IfaceRegex[0] != "^en" {
		t.Errorf("ifaces %v regex %v", o.Ifaces, o.IfaceRegex)
	}
	if o.PublicIP != netip.MustParseAddr("198.18.0.9") || !o.IPMasq || o.RenewMargin != 30*time.Minute || o.LeaseTTL != 2*time.Hour {
		t.Errorf("opts %+v", o)
	}
	if !o.ForwardRules || o.EtcdPrefix != "/coreos.com/network" || o.SubnetFile != "/run/weft/subnet.env" {
		t.Errorf("defaults wrong: %+v", o)
	}
	if strings.Join(c.ignored, ",") != "v,iptables-resync,logtostderr" {
		t.Errorf("ignored flags %v", c.ignored)
	}
}

func TestEnvironmentWeftdThenFlanneld(t *testing.T) {
	c, err := parse([]string{"--iface", "eth9"}, env(map[string]string{
		"FLANNELD_IFACE":          "eth0", // the command line wins
		"FLANNELD_ETCD_ENDPOINTS": "http://10.0.0.7:2379",
		"WEFTD_ETCD_PREFIX":       "/weft/network",
		"FLANNELD_ETCD_PREFIX":    "/ignored",
		"FLANNELD_IP_MASQ":        "true",
		"WEFTD_ETCD_PASSWORD":     "s3cret",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	o := c.opts
	if o.Ifaces[0] != "eth9" || o.Etcd.Endpoints[0] != "http://10.0.0.7:2379" || o.EtcdPrefix != "/weft/network" || !o.IPMasq {
		t.Errorf("opts %+v", o)
	}
	if strings.Contains(o.String(), "s3cret") || !strings.Contains(o.String(), "<redacted>") {
		t.Errorf("String() leaks or hides the password wrongly: %s", o.String())
	}
}

func TestPasswordFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pw")
	_ = os.WriteFile(p, []byte("hunter2\n"), 0o600)
	c, err := parse([]string{"--etcd-password-file", p}, env(nil), &bytes.Buffer{})
	if err != nil || c.opts.Etcd.Password != "hunter2" {
		t.Fatalf("password %q, %v", c.opts.Etcd.Password, err)
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--kube-subnet-mgr"}, "--kube-subnet-mgr: weft leases subnets from etcd only"},
		{[]string{"--etcd-endpoints", "10.0.0.1:2379"}, `--etcd-endpoints "10.0.0.1:2379": want http://`},
		{[]string{"--public-ip", "nope"}, `invalid value "nope" for flag -public-ip: ParseAddr("nope")`},
		{[]string{"--etcd-certfile", "/x"}, "--etcd-certfile and --etcd-keyfile: give both or neither"},
		{[]string{"--log-format", "xml"}, `--log-format "xml"`},
		{[]string{"--subnet-lease-ttl", "1s"}, "--subnet-lease-ttl 1s: must be at least 10s"},
		{[]string{"--iface-regex", "("}, `--iface-regex "("`},
		{[]string{"--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
	}
	for _, tt := range tests {
		_, err := parse(tt.args, env(nil), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.want)
		}
	}
	_, err := parse(nil, env(map[string]string{"WEFTD_SUBNET_LEASE_TTL": "soon"}), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `WEFTD_SUBNET_LEASE_TTL="soon"`) {
		t.Errorf("bad env value: %v", err)
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	code := run([]string{"--help"}, env(nil), &out, &out)
	if code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, f := range []string{"etcd-endpoints", "etcd-prefix", "etcd-certfile", "etcd-keyfile", "etcd-cafile", "etcd-username",
		"etcd-password", "iface", "iface-regex", "iface-can-reach", "public-ip", "public-ipv6", "subnet-file",
		"subnet-lease-renew-margin", "subnet-lease-ttl", "ip-masq", "iptables-forward-rules", "healthz-ip", "healthz-port",
		"metrics-addr", "log-level", "log-format", "version", "release-on-exit", "ip-blackhole-route",
		"etcd-serializable-lists", "start-jitter"} {
		if !strings.Contains(out.String(), "--"+f+" ") {
			t.Errorf("--help does not list --%s", f)
		}
	}
}

// TestScaleFlags: serializable watch lists are on and the start jitter is
// off unless set, by flag or environment; a jitter outside 0–10m is refused.
func TestScaleFlags(t *testing.T) {
	c, err := parse(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !c.opts.SerializableLists || c.opts.StartJitter != 0 {
		t.Errorf("defaults: serializable lists %t, start jitter %s; want true, 0s", c.opts.SerializableLists, c.opts.StartJitter)
	}
	c, err = parse([]string{"--etcd-serializable-lists=false"}, env(map[string]string{"WEFTD_START_JITTER": "45s"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.opts.SerializableLists || c.opts.StartJitter != 45*time.Second {
		t.Errorf("set: serializable lists %t, start jitter %s; want false, 45s", c.opts.SerializableLists, c.opts.StartJitter)
	}
	for _, bad := range []string{"-1s", "11m"} {
		if _, err := parse([]string{"--start-jitter", bad}, env(nil), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--start-jitter") {
			t.Errorf("--start-jitter %s: parse error %v, want one naming the flag", bad, err)
		}
	}
}
