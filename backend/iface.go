// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package backend

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"

	"github.com/weft-net/weft/backend/dataplane"
)

// InterfaceQuery is the operator's choice of underlay (weftd's and
// flanneld's --iface, --iface-regex, --iface-can-reach, --public-ip,
// --public-ipv6), with the kernel facts the daemon looked up for it. The
// zero value asks for the default route's interface.
type InterfaceQuery struct {
	// Ifaces are interface names or addresses, tried in order.
	Ifaces []string
	// Regexes are tried in order, after every Ifaces entry failed, against
	// each interface's name and addresses.
	Regexes []*regexp.Regexp
	// CanReach is --iface-can-reach; Reach is the daemon's RouteGet(CanReach)
	// (its LinkIndex and Src are used). Used when Ifaces and Regexes are empty.
	CanReach netip.Addr
	Reach    dataplane.Route
	// DefaultLinkIndex is the link of the IPv4 default route (0: none); used
	// when nothing else is asked for.
	DefaultLinkIndex int
	// PublicIP and PublicIPv6 override the published addresses.
	PublicIP, PublicIPv6 netip.Addr
	// IPv6 asks for an IPv6 address too (dual stack).
	IPv6 bool
	// NoIPv4 (an IPv6-only network, with IPv6) needs no IPv4 address: the
	// interface is chosen for its IPv6 one alone.
	NoIPv4 bool
}

// candidate is an interface the query points at, with the address it was
// matched by (if any) and why it was picked.
type candidate struct {
	link   dataplane.Link
	addr   netip.Addr
	reason string
}

// ChooseInterface picks the underlay from the node's links (as listed by
// Dataplane.Links) and says why, in words fit for a log line. Candidates are
// tried in the query's order; one without the needed addresses is skipped
// and its problem reported if no candidate fits.
func ChooseInterface(links []dataplane.Link, q InterfaceQuery) (ExternalInterface, string, error) {
	links = sortedLinks(links)
	cands, errs := candidates(links, q)
	for _, c := range cands {
		ext, err := externalOf(c, q)
		if err == nil {
			return ext, c.reason, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no interface matches"))
	}
	return ExternalInterface{}, "", fmt.Errorf("choose underlay interface: %w", errors.Join(errs...))
}

func sortedLinks(links []dataplane.Link) []dataplane.Link {
	out := append([]dataplane.Link(nil), links...)
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

func candidates(links []dataplane.Link, q InterfaceQuery) ([]candidate, []error) {
	switch {
	case len(q.Ifaces) > 0 || len(q.Regexes) > 0:
		// As flanneld: each --iface in order, and only if none fits, each
		// --iface-regex; ChooseInterface tries the candidates in this order.
		out, errs := byIface(links, q.Ifaces)
		if len(q.Regexes) > 0 {
			more, moreErrs := byRegex(links, q.Regexes)
			out, errs = append(out, more...), append(errs, moreErrs...)
		}
		return out, errs
	case q.CanReach.IsValid():
		if l, ok := linkByIndex(links, q.Reach.LinkIndex); ok {
			return []candidate{{link: l, addr: q.Reach.Src, reason: "--iface-can-reach " + q.CanReach.String()}}, nil
		}
		return nil, []error{fmt.Errorf("--iface-can-reach %s: no route to it", q.CanReach)}
	default:
		if l, ok := linkByIndex(links, q.DefaultLinkIndex); ok {
			return []candidate{{link: l, reason: "default route"}}, nil
		}
		return nil, []error{errors.New("no default route: set --iface, --iface-regex or --iface-can-reach")}
	}
}

func byIface(links []dataplane.Link, ifaces []string) ([]candidate, []error) {
	var out []candidate
	var errs []error
	for _, s := range ifaces {
		reason := fmt.Sprintf("--iface %s", s)
		if a, err := netip.ParseAddr(s); err == nil {
			if l, ok := linkWithAddr(links, a); ok {
				out = append(out, candidate{link: l, addr: a, reason: reason})
				continue
			}
			errs = append(errs, fmt.Errorf("--iface %s: no interface has that address", s))
			continue
		}
		if l, ok := linkByName(links, s); ok {
			out = append(out, candidate{link: l, reason: reason})
			continue
		}
		errs = append(errs, fmt.Errorf("--iface %s: no such interface", s))
	}
	return out, errs
}

func byRegex(links []dataplane.Link, res []*regexp.Regexp) ([]candidate, []error) {
	var out []candidate
	for _, re := range res {
		reason := fmt.Sprintf("--iface-regex %s", re)
		for _, l := range links {
			if l.Loopback {
				continue
			}
			if re.MatchString(l.Name) {
				out = append(out, candidate{link: l, reason: reason})
				continue
			}
			for _, p := range l.Addrs {
				if re.MatchString(p.Addr().String()) {
					out = append(out, candidate{link: l, addr: p.Addr(), reason: reason})
					break
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, []error{errors.New("--iface-regex: no interface name or address matches")}
	}
	return out, nil
}

func externalOf(c candidate, q InterfaceQuery) (ExternalInterface, error) {
	ext := ExternalInterface{Name: c.link.Name, Index: c.link.Index, MTU: c.link.MTU}
	if q.NoIPv4 {
		return externalV6(ext, c, q)
	}
	ext.IfaceAddr = pick(c.link.Addrs, c.addr, true)
	if !ext.IfaceAddr.IsValid() {
		return ext, fmt.Errorf("%s (%s): no IPv4 address", c.link.Name, c.reason)
	}
	ext.PublicIP = ext.IfaceAddr
	if q.PublicIP.IsValid() {
		ext.PublicIP = q.PublicIP
	}
	if !q.IPv6 {
		return ext, nil
	}
	return withIPv6(ext, c, q, "")
}

// pick returns matched if it is of the family, else the link's first
// address of the family that is not link-local.
func pick(addrs []netip.Prefix, matched netip.Addr, v4 bool) netip.Addr {
	if matched.IsValid() && matched.Is4() == v4 {
		return matched
	}
	for _, p := range addrs {
		if a := p.Addr(); a.Is4() == v4 && !a.IsLinkLocalUnicast() && !a.IsLoopback() {
			return a
		}
	}
	return netip.Addr{}
}

func linkByIndex(links []dataplane.Link, i int) (dataplane.Link, bool) {
	for _, l := range links {
		if l.Index == i && i > 0 {
			return l, true
		}
	}
	return dataplane.Link{}, false
}

func linkByName(links []dataplane.Link, name string) (dataplane.Link, bool) {
	for _, l := range links {
		if l.Name == name {
			return l, true
		}
	}
	return dataplane.Link{}, false
}

func linkWithAddr(links []dataplane.Link, a netip.Addr) (dataplane.Link, bool) {
	for _, l := range links {
		for _, p := range l.Addrs {
			if p.Addr() == a {
				return l, true
			}
		}
	}
	return dataplane.Link{}, false
}

// externalV6 completes ext for an IPv6-only network: an IPv6 address is
// required, no IPv4 one is looked for.
func externalV6(ext ExternalInterface, c candidate, q InterfaceQuery) (ExternalInterface, error) {
	return withIPv6(ext, c, q, " (the network is IPv6-only)")
}

// withIPv6 fills in the candidate's IPv6 address and the public IPv6
// (--public-ipv6, else that address); why is added to the error.
func withIPv6(ext ExternalInterface, c candidate, q InterfaceQuery, why string) (ExternalInterface, error) {
	ext.IfaceAddrV6 = pick(c.link.Addrs, c.addr, false)
	if !ext.IfaceAddrV6.IsValid() {
		return ext, fmt.Errorf("%s (%s): no global IPv6 address%s", c.link.Name, c.reason, why)
	}
	ext.PublicIPv6 = ext.IfaceAddrV6
	if q.PublicIPv6.IsValid() {
		ext.PublicIPv6 = q.PublicIPv6
	}
	return ext, nil
}
