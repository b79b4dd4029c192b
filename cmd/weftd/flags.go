// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/weft-net/weft/internal/cliflag"
	"github.com/weft-net/weft/internal/daemon"
	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/subnetenv"
)

// cli holds everything parsed from the command line and the environment.
type cli struct {
	opts         daemon.Options
	etcd         cliflag.Etcd
	renewMinutes int
	logLevel     string
	logFormat    string
	healthzIP    netip.Addr
	healthzPort  port
	metricsAddr  hostPort
	showVersion  bool
	kubeMgr      bool
	// ignored lists the flanneld flags given that weftd does not
	// implement, each once, in the order first seen.
	ignored []string
}

// flanneldStatus is what weftd does with one of flanneld's flags.
type flanneldStatus int

const (
	// implemented: same name, same meaning (configuration.md notes the
	// few whose details differ).
	implemented flanneldStatus = iota
	// ignored: accepted, warned about once at start, no effect.
	ignored
	// refused: accepted by the parser, but a true value stops weftd with
	// exit status 2 (--kube-subnet-mgr: another subnet manager altogether).
	refused
)

func (s flanneldStatus) String() string {
	return [...]string{"implemented", "ignored", "refused"}[s]
}

// flanneldFlag is one flag flanneld accepts.
type flanneldFlag struct {
	name   string
	status flanneldStatus
	isBool bool // an ignored flag that may be given without a value
}

// flanneldFlags is every flag flanneld v0.28.9 accepts: its main.go's
// flag set (the klog flags v, vmodule and log_backtrace_at included, which
// it copies in), then the rest of klog's flags, which flanneld itself
// rejects but unit files written for other klog programs carry, then flags
// of older flanneld releases, so that an upgrade from any of them starts
// weftd. Any other flag is an error.
var flanneldFlags = []flanneldFlag{
	// flanneld v0.28.9 main.go.
	{name: "etcd-endpoints"}, {name: "etcd-prefix"}, {name: "etcd-keyfile"}, {name: "etcd-certfile"},
	{name: "etcd-cafile"}, {name: "etcd-username"}, {name: "etcd-password"},
	{name: "iface"}, {name: "iface-regex"}, {name: "iface-can-reach"}, {name: "subnet-file"},
	{name: "public-ip"}, {name: "public-ipv6"}, {name: "subnet-lease-renew-margin"},
	{name: "ip-masq"}, {name: "ip-masq-fully-random-disable", status: ignored, isBool: true},
	{name: "kube-subnet-mgr", status: refused},
	{name: "kube-api-url", status: ignored}, {name: "kube-annotation-prefix", status: ignored},
	{name: "kubeconfig-file", status: ignored},
	{name: "version"}, {name: "healthz-ip"}, {name: "healthz-port"},
	{name: "iptables-resync", status: ignored}, {name: "iptables-forward-rules"},
	{name: "ip-blackhole-route"},
	{name: "net-config-path", status: ignored}, {name: "set-node-network-unavailable", status: ignored, isBool: true},
	{name: "v", status: ignored}, {name: "vmodule", status: ignored}, {name: "log_backtrace_at", status: ignored},
	// The rest of klog's flags.
	{name: "logtostderr", status: ignored, isBool: true}, {name: "alsologtostderr", status: ignored, isBool: true},
	{name: "log_dir", status: ignored}, {name: "log_file", status: ignored}, {name: "log_file_max_size", status: ignored},
	{name: "skip_headers", status: ignored, isBool: true}, {name: "skip_log_headers", status: ignored, isBool: true},
	{name: "stderrthreshold", status: ignored}, {name: "one_output", status: ignored, isBool: true},
	{name: "add_dir_header", status: ignored, isBool: true},
	// Older flanneld releases.
	{name: "use-multi-cluster-cidr", status: ignored, isBool: true}, {name: "persistent-mac", status: ignored, isBool: true},
	{name: "charon-executable-path", status: ignored}, {name: "charon-viciuri", status: ignored},
}

// ignoredFlag records that an unimplemented flanneld flag was given.
type ignoredFlag struct {
	name   string
	isBool bool
	c      *cli
}

func (f ignoredFlag) String() string   { return "" }
func (f ignoredFlag) IsBoolFlag() bool { return f.isBool }
func (f ignoredFlag) Set(string) error {
	for _, n := range f.c.ignored {
		if n == f.name {
			return nil // warned about once however often given
		}
	}
	f.c.ignored = append(f.c.ignored, f.name)
	return nil
}

// port is a TCP port number flag: a bad one stops weftd at parse time
// (exit 2) instead of at listen time, where a supervisor would restart it.
type port uint16

func (p port) MarshalText() ([]byte, error) { return []byte(strconv.Itoa(int(p))), nil }

func (p *port) UnmarshalText(b []byte) error {
	n, err := strconv.ParseUint(string(b), 10, 16)
	if err != nil {
		return errors.New("want a port number 0-65535")
	}
	*p = port(n)
	return nil
}

// hostPort is a listen address flag, host:port with a numeric port 1-65535
// and an IP address, a host name or nothing (every address) as host; empty
// disables the listener.
type hostPort string

func (h hostPort) MarshalText() ([]byte, error) { return []byte(h), nil }

func (h *hostPort) UnmarshalText(b []byte) error {
	s := string(b)
	if s == "" {
		*h = ""
		return nil
	}
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want host:port, e.g. 0.0.0.0:9401 or :9401")
	}
	if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("port %q: want a port number 1-65535", p)
	}
	if _, err := netip.ParseAddr(host); host != "" && err != nil && !validHostName(host) {
		return fmt.Errorf("host %q: want an IP address or a host name", host)
	}
	*h = hostPort(s)
	return nil
}

// validHostName is a loose RFC 1123 check: dot-separated labels of
// letters, digits and dashes.
func validHostName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
			if !letter && (r < '0' || r > '9') && r != '-' {
				return false
			}
		}
	}
	return true
}

func newFlagSet(c *cli, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("weftd", flag.ContinueOnError)
	fs.SetOutput(out)
	o := &c.opts
	c.etcd.Register(fs, "WEFTD_ETCD_PASSWORD")
	fs.Var(cliflag.NewList(&o.Ifaces), "iface", "underlay interface name or IP (repeatable; first match wins)")
	fs.Var(cliflag.NewList(&o.IfaceRegex), "iface-regex", "regex over interface names or IPs (repeatable; tried when no --iface matches)")
	fs.TextVar(&o.IfaceCanReach, "iface-can-reach", netip.Addr{}, "use the interface that routes to this address")
	fs.TextVar(&o.PublicIP, "public-ip", netip.Addr{}, "IPv4 address peers reach this node at (default: the interface's)")
	fs.TextVar(&o.PublicIPv6, "public-ipv6", netip.Addr{}, "IPv6 address peers reach this node at (dual stack)")
	fs.StringVar(&o.SubnetFile, "subnet-file", subnetenv.DefaultPath, "where to write the node's subnet.env (an absolute path)")
	fs.IntVar(&c.renewMinutes, "subnet-lease-renew-margin", 60, "minutes before expiry at which weftd warns that the lease is expiring (it keeps the lease alive continuously)")
	fs.DurationVar(&o.LeaseTTL, "subnet-lease-ttl", 24*time.Hour, "TTL of the node's lease; a dead node's subnet is freed after it")
	fs.BoolVar(&o.IPMasq, "ip-masq", false, "masquerade pod traffic leaving the pod network")
	fs.BoolVar(&o.ForwardRules, "iptables-forward-rules", true, "accept forwarding of pod network traffic, also under a FORWARD DROP policy")
	fs.BoolVar(&o.BlackholeRoute, "ip-blackhole-route", false, "keep a blackhole route for this node's own subnet(s), so traffic to a pod address not on the node is dropped instead of leaving by the default route")
	fs.BoolVar(&o.ReleaseOnExit, "release-on-exit", false, "on SIGTERM delete this node's lease and VXLAN device")
	fs.DurationVar(&o.ResyncInterval, "resync-interval", 30*time.Second, "period of the full kernel reconcile")
	fs.BoolVar(&o.SerializableLists, "etcd-serializable-lists", true, "list the leases the watch starts from with serializable reads, answered by the etcd member weftd is connected to")
	fs.DurationVar(&o.StartJitter, "start-jitter", 0, "delay the first lease list by a random time up to this, to spread a whole fleet's start over etcd")
	fs.TextVar(&c.healthzIP, "healthz-ip", netip.IPv4Unspecified(), "address of the /healthz and /readyz listener")
	fs.TextVar(&c.healthzPort, "healthz-port", port(0), "port of the /healthz and /readyz listener (0 disables)")
	fs.TextVar(&c.metricsAddr, "metrics-addr", hostPort(""), "host:port for Prometheus /metrics (may equal the healthz address)")
	fs.StringVar(&o.NetNS, "netns", "", "program this network namespace (path) instead of weftd's own; for testing")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "text or json")
	fs.BoolVar(&c.showVersion, "version", false, "print the version and exit")
	fs.BoolVar(&c.kubeMgr, "kube-subnet-mgr", false, "not supported: weft leases subnets from etcd")
	for _, f := range flanneldFlags {
		if f.status == ignored {
			fs.Var(ignoredFlag{f.name, f.isBool, c}, f.name, "flanneld flag accepted and ignored by weftd")
		}
	}
	fs.Usage = func() { usage(fs) }
	return fs
}

func ignoredNames() []string {
	var out []string
	for _, f := range flanneldFlags {
		if f.status == ignored {
			out = append(out, f.name)
		}
	}
	sort.Strings(out)
	return out
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
	skip := map[string]bool{}
	for _, n := range ignoredNames() {
		skip[n] = true
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if !skip[f.Name] {
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
	fmt.Fprintf(w, "\naccepted for flanneld compatibility and ignored: %s\n", strings.Join(ignoredNames(), ", "))
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
	// flanneld's default margin (60 min) with a short TTL is fitted to the
	// TTL as weftctl doctor fits it.
	o.RenewMargin = subnet.EffectiveRenewMargin(time.Duration(c.renewMinutes)*time.Minute, o.LeaseTTL)
	if c.healthzPort > 0 {
		o.HealthzAddr = netip.AddrPortFrom(c.healthzIP, uint16(c.healthzPort)).String()
	}
	o.MetricsAddr = string(c.metricsAddr)
	var errs []error
	// A relative path would depend on the directory a supervisor starts
	// weftd in, and the CNI plugin reading the file runs elsewhere.
	if o.SubnetFile != "" && !filepath.IsAbs(o.SubnetFile) {
		errs = append(errs, fmt.Errorf("--subnet-file %q: must be an absolute path", o.SubnetFile))
	}
	switch c.logFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", c.logFormat))
	}
	return errors.Join(append(errs, o.Validate())...)
}
