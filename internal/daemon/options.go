// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/weft-net/weft/subnet/etcd"
)

// Options is weftd's configuration, built by cmd/weftd from flags and
// environment. The zero value is not valid; call Validate after filling it.
// String redacts the etcd password.
type Options struct {
	Etcd       etcd.ClientConfig
	EtcdPrefix string

	Ifaces        []string // names or IPs; first match wins
	IfaceRegex    []string
	IfaceCanReach netip.Addr
	PublicIP      netip.Addr
	PublicIPv6    netip.Addr

	SubnetFile     string
	LeaseTTL       time.Duration
	RenewMargin    time.Duration // only the "expiring soon" threshold, see compat.md
	IPMasq         bool
	ForwardRules   bool
	BlackholeRoute bool // --ip-blackhole-route: a blackhole route for our own subnet(s)
	ReleaseOnExit  bool
	ResyncInterval time.Duration

	// SerializableLists makes the lists the lease watch starts from (at
	// start and after a compaction) serializable reads, answered by the
	// member weftd is connected to (etcd.Registry.SetSerializableLists).
	SerializableLists bool
	// StartJitter delays the start-up list by a random time up to it, so
	// that a whole fleet started at once (power-on, a DaemonSet rolled
	// with no surge limit) spreads its lists over etcd. 0: no delay.
	StartJitter time.Duration

	HealthzAddr string // host:port; empty disables
	MetricsAddr string // host:port; empty disables (may equal HealthzAddr)

	// NetNS, when set, is the path of the network namespace whose kernel
	// state the daemon programs (netlink, nftables, sysctls). Empty means the
	// namespace weftd runs in; tests set it so nothing touches the root one.
	NetNS string
}

// maxStartJitter bounds --start-jitter: a node is not ready before its
// first list, and a fleet of 10,000 needs about a minute
// (Documentation/scale.md).
const maxStartJitter = 10 * time.Minute

// Validate checks the options, naming the flag that is wrong.
func (o *Options) Validate() error {
	var errs []error
	if len(o.Etcd.Endpoints) == 0 {
		errs = append(errs, errors.New("--etcd-endpoints: at least one endpoint is required"))
	}
	for _, e := range o.Etcd.Endpoints {
		if !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") {
			errs = append(errs, fmt.Errorf("--etcd-endpoints %q: want http://host:port or https://host:port", e))
		}
	}
	if (o.Etcd.CertFile == "") != (o.Etcd.KeyFile == "") {
		errs = append(errs, errors.New("--etcd-certfile and --etcd-keyfile: give both or neither"))
	}
	if o.EtcdPrefix == "" || !strings.HasPrefix(o.EtcdPrefix, "/") {
		errs = append(errs, fmt.Errorf("--etcd-prefix %q: must start with /", o.EtcdPrefix))
	}
	for _, r := range o.IfaceRegex {
		if _, err := regexp.Compile(r); err != nil {
			errs = append(errs, fmt.Errorf("--iface-regex %q: %w", r, err))
		}
	}
	if o.PublicIP.IsValid() && !o.PublicIP.Is4() {
		errs = append(errs, fmt.Errorf("--public-ip %s: not an IPv4 address", o.PublicIP))
	}
	if o.PublicIPv6.IsValid() && (o.PublicIPv6.Is4() || o.PublicIPv6.Is4In6()) {
		errs = append(errs, fmt.Errorf("--public-ipv6 %s: not an IPv6 address", o.PublicIPv6))
	}
	if o.SubnetFile == "" {
		errs = append(errs, errors.New("--subnet-file: must not be empty"))
	}
	if o.LeaseTTL < 10*time.Second {
		errs = append(errs, fmt.Errorf("--subnet-lease-ttl %s: must be at least 10s", o.LeaseTTL))
	}
	if o.RenewMargin < 0 || o.RenewMargin >= o.LeaseTTL {
		errs = append(errs, fmt.Errorf("--subnet-lease-renew-margin %s: must be between 0 and the lease TTL %s", o.RenewMargin, o.LeaseTTL))
	}
	if o.StartJitter < 0 || o.StartJitter > maxStartJitter {
		errs = append(errs, fmt.Errorf("--start-jitter %s: must be between 0 and %s", o.StartJitter, maxStartJitter))
	}
	if o.ResyncInterval < time.Second {
		errs = append(errs, fmt.Errorf("--resync-interval %s: must be at least 1s", o.ResyncInterval))
	}
	return errors.Join(errs...)
}

// String describes the options for the start-up log, never showing the password.
func (o Options) String() string {
	pw := ""
	if o.Etcd.Password != "" {
		pw = "<redacted>"
	}
	pub := "auto"
	if o.PublicIP.IsValid() {
		pub = o.PublicIP.String()
	}
	return fmt.Sprintf("etcd=%s prefix=%s user=%q password=%s iface=%v iface-regex=%v public-ip=%s subnet-file=%s ttl=%s ip-masq=%t ip-blackhole-route=%t release-on-exit=%t serializable-lists=%t start-jitter=%s",
		strings.Join(o.Etcd.Endpoints, ","), o.EtcdPrefix, o.Etcd.Username, pw, o.Ifaces, o.IfaceRegex, pub,
		o.SubnetFile, o.LeaseTTL, o.IPMasq, o.BlackholeRoute, o.ReleaseOnExit, o.SerializableLists, o.StartJitter)
}
