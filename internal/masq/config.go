// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package masq

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/sirupsen/logrus"
)

// DefaultInterval is how often Run checks the rules when Config.Interval is
// zero; flanneld's --iptables-resync defaults to the same 5 s.
const DefaultInterval = 5 * time.Second

// Config is the desired state. The zero value is invalid: PodNetworks is
// required.
type Config struct {
	// PodNetworks are the cluster's pod networks: the network config's
	// Network and, with dual stack, IPv6Network. At most one per family.
	PodNetworks []netip.Prefix
	// NodeSubnets are this node's leased subnets, at most one per family,
	// each inside the pod network of its family. Required for every pod
	// network family when Masquerade is set.
	NodeSubnets []netip.Prefix
	// Masquerade installs the masquerade rules (--ip-masq). When false,
	// weft's table is deleted if present.
	Masquerade bool
	// ForwardRules accepts forwarding from and to the pod networks in the
	// host's iptables FORWARD chains (--iptables-forward-rules). When false,
	// weft's rules there are deleted if present.
	ForwardRules bool
	// Interval is how often Run checks the rules; DefaultInterval if zero.
	Interval time.Duration
	// Log receives the Manager's logs; nil discards them.
	Log logrus.FieldLogger
}

// Validate reports what is wrong with c, naming the field. It does not
// modify c.
func (c Config) Validate() error {
	var errs []error
	if len(c.PodNetworks) == 0 {
		errs = append(errs, errors.New("Config.PodNetworks: want at least one pod network, got none"))
	}
	if err := checkPrefixes("Config.PodNetworks", c.PodNetworks); err != nil {
		errs = append(errs, err)
	}
	if err := checkPrefixes("Config.NodeSubnets", c.NodeSubnets); err != nil {
		errs = append(errs, err)
	}
	for _, s := range c.NodeSubnets {
		if pod, ok := prefixOf(c.PodNetworks, s.Addr().Is4()); !ok || !pod.Contains(s.Addr()) || s.Bits() < pod.Bits() {
			errs = append(errs, fmt.Errorf("Config.NodeSubnets: %s is not inside a pod network %v", s, c.PodNetworks))
		}
	}
	if c.Masquerade {
		for _, p := range c.PodNetworks {
			if _, ok := prefixOf(c.NodeSubnets, p.Addr().Is4()); !ok {
				errs = append(errs, fmt.Errorf("Config.NodeSubnets: Masquerade needs this node's subnet inside %s, got none", p))
			}
		}
	}
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("Config.Interval: want a positive duration, got %s", c.Interval))
	}
	return errors.Join(errs...)
}

// checkPrefixes rejects invalid, unmasked, zero-length and same-family
// duplicate prefixes.
func checkPrefixes(field string, ps []netip.Prefix) error {
	var errs []error
	seen := map[bool]netip.Prefix{}
	for _, p := range ps {
		switch {
		case !p.IsValid():
			errs = append(errs, fmt.Errorf("%s: invalid prefix %s", field, p))
			continue
		case p.Addr().Is4In6() || p.Addr().Zone() != "":
			errs = append(errs, fmt.Errorf("%s: want a plain IPv4 or IPv6 prefix, got %s", field, p))
			continue
		case p.Masked() != p:
			errs = append(errs, fmt.Errorf("%s: %s has host bits set, want %s", field, p, p.Masked()))
		case p.Bits() == 0:
			errs = append(errs, fmt.Errorf("%s: %s would match every address", field, p))
		}
		if prev, dup := seen[p.Addr().Is4()]; dup {
			errs = append(errs, fmt.Errorf("%s: want at most one prefix per address family, got %s and %s", field, prev, p))
		}
		seen[p.Addr().Is4()] = p
	}
	return errors.Join(errs...)
}

// prefixOf returns the prefix of the family (IPv4 if v4) in ps.
func prefixOf(ps []netip.Prefix, v4 bool) (netip.Prefix, bool) {
	for _, p := range ps {
		if p.IsValid() && p.Addr().Is4() == v4 {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// withDefaults returns a copy of c with the defaults filled in.
func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		c.Log = l
	}
	c.PodNetworks = append([]netip.Prefix(nil), c.PodNetworks...)
	c.NodeSubnets = append([]netip.Prefix(nil), c.NodeSubnets...)
	return c
}
