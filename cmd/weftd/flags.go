// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/weft-net/weft/internal/cliflag"
	"github.com/weft-net/weft/internal/daemon"
	"github.com/weft-net/weft/subnet/subnetenv"
)

// cli holds everything parsed from the command line and the environment.
type cli struct {
	opts         daemon.Options
	etcd         cliflag.Etcd
	renewMinutes int
	logLevel     string
	logFormat    string
	healthzIP    string
	healthzPort  int
	showVersion  bool
	kubeMgr      bool
	// ignored lists flanneld flags weft accepts but does not implement.
	ignored []string
}

// flannelOnly are flanneld flags weft accepts for drop-in use and ignores
// with a warning; true marks a boolean flag (it may be given without value).
var flannelOnly = map[string]bool{
	"kube-api-url": false, "kube-annotation-prefix": false, "kubeconfig-file": false,
	"net-config-path": false, "iptables-resync": false, "ip-masq-fully-random-disable": true,
	"set-node-network-unavailable": true, "use-multi-cluster-cidr": true,
	"charon-executable-path": false, "charon-viciuri": false,
	// klog flags flanneld inherits.
	"v": false, "vmodule": false, "log_dir": false, "log_file": false, "logtostderr": true,
	"alsologtostderr": true, "stderrthreshold": false, "skip_headers": true, "add_dir_header": true,
}

type addrFlag struct{ v *netip.Addr }

func (a addrFlag) String() string {
	if a.v == nil || !a.v.IsValid() {
		return ""
	}
	return a.v.String()
}

func (a addrFlag) Set(s string) error {
	if s == "" {
		*a.v = netip.Addr{}
		return nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("not an IP address")
	}
	*a.v = ip
	return nil
}

type ignoredFlag struct {
	name    string
	isBool  bool
	ignored *[]string
}

func (f ignoredFlag) String() string   { return "" }
func (f ignoredFlag) IsBoolFlag() bool { return f.isBool }
func (f ignoredFlag) Set(string) error {
	*f.ignored = append(*f.ignored, f.name)
	return nil
}

func newFlagSet(c *cli, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("weftd", flag.ContinueOnError)
	fs.SetOutput(out)
	o := &c.opts
	c.etcd.Register(fs, "WEFTD_ETCD_PASSWORD")
	fs.Var(cliflag.NewList(&o.Ifaces), "iface", "underlay interface name or IP (repeatable; first match wins)")
	fs.Var(cliflag.NewList(&o.IfaceRegex), "iface-regex", "regex over interface names or IPs (repeatable; tried when no --iface matches)")
	fs.Var(addrFlag{&o.IfaceCanReach}, "iface-can-reach", "use the interface that routes to this address")
	fs.Var(addrFlag{&o.PublicIP}, "public-ip", "IPv4 address peers reach this node at (default: the interface's)")
	fs.Var(addrFlag{&o.PublicIPv6}, "public-ipv6", "IPv6 address peers reach this node at (dual stack)")
	fs.StringVar(&o.SubnetFile, "subnet-file", subnetenv.DefaultPath, "where to write the node's subnet.env")
	fs.IntVar(&c.renewMinutes, "subnet-lease-renew-margin", 60, "minutes before expiry at which weftd warns that the lease is expiring (it keeps the lease alive continuously)")
	fs.DurationVar(&o.LeaseTTL, "subnet-lease-ttl", 24*time.Hour, "TTL of the node's lease; a dead node's subnet is freed after it")
	fs.BoolVar(&o.IPMasq, "ip-masq", false, "masquerade pod traffic leaving the pod network")
	fs.BoolVar(&o.ForwardRules, "iptables-forward-rules", true, "accept forwarding of pod network traffic, also under a FORWARD DROP policy")
	fs.BoolVar(&o.ReleaseOnExit, "release-on-exit", false, "on SIGTERM delete this node's lease and VXLAN device")
	fs.DurationVar(&o.ResyncInterval, "resync-interval", 30*time.Second, "period of the full kernel reconcile")
	fs.StringVar(&c.healthzIP, "healthz-ip", "0.0.0.0", "address of the /healthz and /readyz listener")
	fs.IntVar(&c.healthzPort, "healthz-port", 0, "port of the /healthz and /readyz listener (0 disables)")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", "", "host:port for Prometheus /metrics (may equal the healthz address)")
	fs.StringVar(&o.NetNS, "netns", "", "program this network namespace (path) instead of weftd's own; for testing")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
	fs.BoolVar(&c.showVersion, "version", false, "print the version and exit")
	fs.BoolVar(&c.kubeMgr, "kube-subnet-mgr", false, "not supported: weft leases subnets from etcd")
	for name, isBool := range flannelOnly {
		fs.Var(ignoredFlag{name, isBool, &c.ignored}, name, "flanneld flag accepted and ignored by weftd")
	}
	fs.Usage = func() { usage(fs) }
	return fs
}

func usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, `usage: weftd [flags]

weftd leases this node's pod subnet from etcd, programs the VXLAN overlay to every
other node and writes subnet.env for the weft CNI plugin. Every flag can also be set
from the environment as WEFTD_<FLAG> or FLANNELD_<FLAG> (upper case, dashes become
underscores); both -flag and --flag work.

flags:
`)
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := flannelOnly[f.Name]; !ok {
			names = append(names, f.Name)
		}
	})
	sort.Strings(names)
	for _, n := range names {
		f := fs.Lookup(n)
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  --%-28s %s%s\n", n, f.Usage, def)
	}
	fmt.Fprintf(w, "\naccepted for flanneld compatibility and ignored: %s\n", strings.Join(sortedKeys(flannelOnly), ", "))
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// parse reads flags, then fills every flag not given on the command line
// from WEFTD_<FLAG>, else FLANNELD_<FLAG>.
func parse(args []string, getenv func(string) string, out io.Writer) (*cli, error) {
	c := &cli{}
	fs := newFlagSet(c, out)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags only; see --help)", fs.Arg(0))
	}
	if err := cliflag.FillFromEnv(fs, getenv, nil, "WEFTD_", "FLANNELD_"); err != nil {
		return nil, err
	}
	return c, c.finish()
}

func (c *cli) finish() error {
	o := &c.opts
	if c.kubeMgr {
		return fmt.Errorf("--kube-subnet-mgr: weft leases subnets from etcd only; drop the flag and set --etcd-endpoints")
	}
	if err := c.etcd.LoadPassword(); err != nil {
		return err
	}
	o.Etcd, o.EtcdPrefix = c.etcd.ClientConfig(), c.etcd.Prefix
	o.RenewMargin = time.Duration(c.renewMinutes) * time.Minute
	if o.RenewMargin >= o.LeaseTTL {
		// flanneld's default margin (60 min) with a short TTL: warn at a fifth of the TTL instead.
		o.RenewMargin = o.LeaseTTL / 5
	}
	if c.healthzPort > 0 {
		o.HealthzAddr = fmt.Sprintf("%s:%d", c.healthzIP, c.healthzPort)
	}
	switch c.logFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format %q: want text or json", c.logFormat)
	}
	return o.Validate()
}
