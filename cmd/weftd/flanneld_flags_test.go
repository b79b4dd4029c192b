// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/cliflag"
)

// flanneldFlagCase is one flag of flanneld v0.28.9 as its main.go
// registers it (klog's v, vmodule and log_backtrace_at included), or of
// klog or an older flanneld, with a value an operator would give it.
type flanneldFlagCase struct {
	name   string
	status flanneldStatus
	value  string   // "" for a boolean given bare on the command line
	extra  []string // flags the value needs to be valid (a key needs a certificate)
	// check says whether an implemented flag's value arrived.
	check func(c *cli) bool
}

// flanneldV0289 is flanneld v0.28.9's flag set, written down here
// independently of flags.go's table so that a flag dropped there fails.
// Source: flanneld's main.go (flannelFlags in init(), plus copyFlag of
// klog's v, vmodule, log_backtrace_at).
var flanneldV0289 = []string{
	"etcd-endpoints", "etcd-prefix", "etcd-keyfile", "etcd-certfile", "etcd-cafile", "etcd-username", "etcd-password",
	"iface", "iface-regex", "iface-can-reach", "subnet-file", "public-ip", "public-ipv6", "subnet-lease-renew-margin",
	"ip-masq", "ip-masq-fully-random-disable", "kube-subnet-mgr", "kube-api-url", "kube-annotation-prefix",
	"kubeconfig-file", "version", "healthz-ip", "healthz-port", "iptables-resync", "iptables-forward-rules",
	"ip-blackhole-route", "net-config-path", "set-node-network-unavailable", "v", "vmodule", "log_backtrace_at",
}

var flanneldCases = []flanneldFlagCase{
	{name: "etcd-endpoints", value: "http://10.0.0.1:2379,http://10.0.0.2:2379", check: func(c *cli) bool {
		return strings.Join(c.opts.Etcd.Endpoints, " ") == "http://10.0.0.1:2379 http://10.0.0.2:2379"
	}},
	{name: "etcd-prefix", value: "/flannel/network", check: func(c *cli) bool { return c.opts.EtcdPrefix == "/flannel/network" }},
	{name: "etcd-keyfile", value: "/etc/flannel/key.pem", extra: []string{"--etcd-certfile=/etc/flannel/cert.pem"},
		check: func(c *cli) bool { return c.opts.Etcd.KeyFile == "/etc/flannel/key.pem" }},
	{name: "etcd-certfile", value: "/etc/flannel/cert.pem", extra: []string{"--etcd-keyfile=/etc/flannel/key.pem"},
		check: func(c *cli) bool { return c.opts.Etcd.CertFile == "/etc/flannel/cert.pem" }},
	{name: "etcd-cafile", value: "/etc/flannel/ca.pem", check: func(c *cli) bool { return c.opts.Etcd.CAFile == "/etc/flannel/ca.pem" }},
	{name: "etcd-username", value: "flannel", check: func(c *cli) bool { return c.opts.Etcd.Username == "flannel" }},
	{name: "etcd-password", value: "s3cret", check: func(c *cli) bool { return c.opts.Etcd.Password == "s3cret" }},
	{name: "iface", value: "eth1", check: func(c *cli) bool { return slices.Equal(c.opts.Ifaces, []string{"eth1"}) }},
	{name: "iface-regex", value: "^en", check: func(c *cli) bool { return slices.Equal(c.opts.IfaceRegex, []string{"^en"}) }},
	{name: "iface-can-reach", value: "198.18.0.1", check: func(c *cli) bool { return c.opts.IfaceCanReach == netip.MustParseAddr("198.18.0.1") }},
	{name: "subnet-file", value: "/run/flannel/subnet.env", check: func(c *cli) bool { return c.opts.SubnetFile == "/run/flannel/subnet.env" }},
	{name: "public-ip", value: "198.18.0.9", check: func(c *cli) bool { return c.opts.PublicIP == netip.MustParseAddr("198.18.0.9") }},
	{name: "public-ipv6", value: "2001:db8:18::9", check: func(c *cli) bool { return c.opts.PublicIPv6 == netip.MustParseAddr("2001:db8:18::9") }},
	{name: "subnet-lease-renew-margin", value: "30", check: func(c *cli) bool { return c.opts.RenewMargin == 30*time.Minute }},
	{name: "ip-masq", check: func(c *cli) bool { return c.opts.IPMasq }},
	{name: "ip-masq-fully-random-disable", status: ignored},
	{name: "kube-subnet-mgr", status: refused},
	{name: "kube-api-url", status: ignored, value: "https://10.96.0.1:443"},
	{name: "kube-annotation-prefix", status: ignored, value: "flannel.alpha.coreos.com"},
	{name: "kubeconfig-file", status: ignored, value: "/etc/kubernetes/kubeconfig"},
	{name: "version", check: func(c *cli) bool { return c.showVersion }},
	{name: "healthz-ip", value: "127.0.0.1", extra: []string{"--healthz-port=9401"},
		check: func(c *cli) bool { return c.opts.HealthzAddr == "127.0.0.1:9401" }},
	{name: "healthz-port", value: "9401", check: func(c *cli) bool { return c.opts.HealthzAddr == "0.0.0.0:9401" }},
	{name: "iptables-resync", status: ignored, value: "5"},
	{name: "iptables-forward-rules", value: "false", check: func(c *cli) bool { return !c.opts.ForwardRules }},
	{name: "ip-blackhole-route", check: func(c *cli) bool { return c.opts.BlackholeRoute }},
	{name: "net-config-path", status: ignored, value: "/etc/kube-flannel/net-conf.json"},
	{name: "set-node-network-unavailable", status: ignored, value: "false"},
	{name: "v", status: ignored, value: "2"},
	{name: "vmodule", status: ignored, value: "kube=3"},
	{name: "log_backtrace_at", status: ignored, value: "main.go:120"},
	// klog's other flags.
	{name: "logtostderr", status: ignored},
	{name: "alsologtostderr", status: ignored},
	{name: "log_dir", status: ignored, value: "/var/log/flannel"},
	{name: "log_file", status: ignored, value: "/var/log/flanneld.log"},
	{name: "log_file_max_size", status: ignored, value: "1800"},
	{name: "skip_headers", status: ignored},
	{name: "skip_log_headers", status: ignored},
	{name: "stderrthreshold", status: ignored, value: "ERROR"},
	{name: "one_output", status: ignored},
	{name: "add_dir_header", status: ignored},
	// Older flanneld releases.
	{name: "use-multi-cluster-cidr", status: ignored},
	{name: "persistent-mac", status: ignored},
	{name: "charon-executable-path", status: ignored, value: "/usr/lib/strongswan/charon"},
	{name: "charon-viciuri", status: ignored, value: "unix:///var/run/charon.vici"},
}

// TestEveryFlanneldFlag gives each flag flanneld knows to weftd, on the
// command line and as FLANNELD_<FLAG>: implemented ones take effect,
// ignored ones are recorded for the start-up warning, --kube-subnet-mgr is
// refused naming itself.
func TestEveryFlanneldFlag(t *testing.T) {
	byName := map[string]flanneldFlag{}
	for _, f := range flanneldFlags {
		byName[f.name] = f
	}
	tested := map[string]bool{}
	for _, tc := range flanneldCases {
		tested[tc.name] = true
		f, ok := byName[tc.name]
		if !ok {
			t.Errorf("--%s is missing from flags.go's flanneldFlags", tc.name)
			continue
		}
		if f.status != tc.status {
			t.Errorf("--%s: flags.go says %s, want %s", tc.name, f.status, tc.status)
		}
		cmdline := "--" + tc.name
		if tc.value != "" {
			cmdline += "=" + tc.value
		}
		envValue := tc.value
		if envValue == "" {
			envValue = "true"
		}
		envName := cliflag.EnvName("FLANNELD_", tc.name)
		for _, how := range []struct {
			desc string
			args []string
			env  map[string]string
		}{
			{"command line " + cmdline, append([]string{cmdline}, tc.extra...), nil},
			{envName + "=" + envValue, tc.extra, map[string]string{envName: envValue}},
		} {
			c, err := parse(how.args, env(how.env), &bytes.Buffer{})
			switch tc.status {
			case refused:
				if err == nil || !strings.Contains(err.Error(), "--"+tc.name) {
					t.Errorf("%s: error %v, want a refusal naming --%s", how.desc, err, tc.name)
				}
			case ignored:
				if err != nil {
					t.Errorf("%s: %v", how.desc, err)
				} else if !slices.Equal(c.ignored, []string{tc.name}) {
					t.Errorf("%s: ignored flags %v, want [%s]", how.desc, c.ignored, tc.name)
				}
			case implemented:
				if err != nil {
					t.Errorf("%s: %v", how.desc, err)
				} else if len(c.ignored) > 0 || !tc.check(c) {
					t.Errorf("%s: value did not arrive (ignored %v, opts %s)", how.desc, c.ignored, c.opts.String())
				}
			}
		}
	}
	for _, f := range flanneldFlags {
		if !tested[f.name] {
			t.Errorf("flags.go lists --%s, which this test does not cover", f.name)
		}
	}
	for _, n := range flanneldV0289 {
		if _, ok := byName[n]; !ok {
			t.Errorf("flanneld v0.28.9's --%s is not in flags.go's flanneldFlags", n)
		}
	}
	// A refused flag given as false is what weftd does anyway.
	if _, err := parse([]string{"--kube-subnet-mgr=false"}, env(nil), &bytes.Buffer{}); err != nil {
		t.Errorf("--kube-subnet-mgr=false: %v", err)
	}
}

// TestIgnoredFlagsRecordedOnce: a flag repeated, or given both on the
// command line and in the environment, is warned about once.
func TestIgnoredFlagsRecordedOnce(t *testing.T) {
	c, err := parse([]string{"-v=2", "--vmodule=a=1", "-v", "3", "--logtostderr", "--log_backtrace_at=main.go:1"},
		env(map[string]string{"FLANNELD_V": "4", "FLANNELD_LOG_DIR": "/tmp", "WEFTD_LOG_DIR": "/var/log"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"v", "vmodule", "logtostderr", "log_backtrace_at", "log_dir"}; !slices.Equal(c.ignored, want) {
		t.Errorf("ignored %v, want %v", c.ignored, want)
	}
}

// TestParseTimeValidation: a bad port or address stops weftd with exit
// status 2 and a message naming the flag or variable, before it starts
// anything (a supervisor does not restart on 2).
func TestParseTimeValidation(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{args: []string{"--healthz-port=99999"}, want: `invalid value "99999" for flag -healthz-port: want a port number 0-65535`},
		{args: []string{"-healthz-port=-1"}, want: `invalid value "-1" for flag -healthz-port`},
		{args: []string{"--healthz-port", "http"}, want: `flag -healthz-port`},
		{env: map[string]string{"FLANNELD_HEALTHZ_PORT": "70000"}, want: `FLANNELD_HEALTHZ_PORT="70000": want a port number`},
		{args: []string{"--healthz-ip=localhost"}, want: `invalid value "localhost" for flag -healthz-ip`},
		{args: []string{"--metrics-addr=garbage"}, want: `invalid value "garbage" for flag -metrics-addr: want host:port`},
		{args: []string{"--metrics-addr=0.0.0.0:99999"}, want: `flag -metrics-addr: port "99999": want a port number 1-65535`},
		{args: []string{"--metrics-addr=:0"}, want: `flag -metrics-addr: port "0"`},
		{args: []string{"--metrics-addr=0.0.0.0:http"}, want: `flag -metrics-addr: port "http"`},
		{args: []string{"--metrics-addr=bad_host!:9401"}, want: `flag -metrics-addr: host "bad_host!"`},
		{env: map[string]string{"WEFTD_METRICS_ADDR": "9401"}, want: `WEFTD_METRICS_ADDR="9401": want host:port`},
		{args: []string{"--iface-can-reach=somewhere"}, want: `invalid value "somewhere" for flag -iface-can-reach`},
		{args: []string{"--public-ipv6=2001:db8::zz"}, want: `flag -public-ipv6`},
		{args: []string{"--subnet-file=run/flannel/subnet.env"}, want: `--subnet-file "run/flannel/subnet.env": must be an absolute path`},
		{env: map[string]string{"FLANNELD_SUBNET_FILE": "subnet.env"}, want: `--subnet-file "subnet.env": must be an absolute path`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, env(tc.env), &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want 2 and %q", tc.args, tc.env, code, stderr.String(), tc.want)
		}
	}
}

func TestListenAddresses(t *testing.T) {
	for _, tc := range []struct {
		args             []string
		healthz, metrics string
	}{
		{[]string{"--healthz-port=9401", "--metrics-addr=0.0.0.0:9401"}, "0.0.0.0:9401", "0.0.0.0:9401"},
		{[]string{"--healthz-ip=::", "--healthz-port=9401", "--metrics-addr=[::1]:9402"}, "[::]:9401", "[::1]:9402"},
		{[]string{"--healthz-ip=198.18.0.1", "--healthz-port=65535", "--metrics-addr=:9401"}, "198.18.0.1:65535", ":9401"},
		{[]string{"--metrics-addr=node-1.example.org:9401"}, "", "node-1.example.org:9401"},
		{[]string{"--healthz-port=0"}, "", ""},
	} {
		c, err := parse(tc.args, env(nil), &bytes.Buffer{})
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if c.opts.HealthzAddr != tc.healthz || c.opts.MetricsAddr != tc.metrics {
			t.Errorf("%v: healthz %q metrics %q, want %q %q", tc.args, c.opts.HealthzAddr, c.opts.MetricsAddr, tc.healthz, tc.metrics)
		}
	}
}
