// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package masq

import (
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

const (
	// TableName is weft's own table, in the inet family.
	TableName = "weft"
	// ForwardComment tags the rules weft inserts into the iptables FORWARD
	// chains; weft treats every rule with exactly this comment as its own.
	ForwardComment = "weft forward"

	postroutingChain = "postrouting"
	// kubeProxyMasqMark is kube-proxy's default --iptables-masquerade-bit
	// (0x4000): kube-proxy masquerades those packets itself, and flanneld
	// leaves them alone to avoid a double NAT.
	kubeProxyMasqMark = 0x4000
)

var (
	ipv4Multicast = netip.MustParsePrefix("224.0.0.0/4")
	ipv6Multicast = netip.MustParsePrefix("ff00::/8")
)

// ruleSpec is one desired rule: its expressions and its comment.
type ruleSpec struct {
	exprs   []expr.Any
	comment string
}

// chainSpec is one desired base chain of weft's table.
type chainSpec struct {
	name  string
	typ   nftables.ChainType
	hook  nftables.ChainHook
	prio  nftables.ChainPriority
	rules []ruleSpec
}

// tableSpecs returns the chains of weft's table; none means the table must
// not exist.
func tableSpecs(c Config, fullyRandom bool) []chainSpec {
	if !c.Masquerade {
		return nil
	}
	rules := []ruleSpec{{
		exprs:   concat(markMatch(kubeProxyMasqMark), []expr.Any{verdict(expr.VerdictReturn)}),
		comment: "kube-proxy masquerades marked packets itself",
	}}
	for _, pod := range c.PodNetworks {
		node, _ := prefixOf(c.NodeSubnets, pod.Addr().Is4())
		rules = append(rules, masqRules(pod, node, fullyRandom)...)
	}
	return []chainSpec{{
		name: postroutingChain, typ: nftables.ChainTypeNAT,
		hook: *nftables.ChainHookPostrouting, prio: *nftables.ChainPriorityNATSource,
		rules: rules,
	}}
}

// masqRules mirrors flanneld's FLANNEL-POSTRTG chain for one family, with
// its two pod-to-pod RETURN rules widened to the whole pod network so that
// pod-to-pod traffic is never masqueraded, whichever node forwards it.
// Order matters: the first matching verdict wins.
func masqRules(pod, node netip.Prefix, fullyRandom bool) []ruleSpec {
	v4 := pod.Addr().Is4()
	mcast := ipv6Multicast
	if v4 {
		mcast = ipv4Multicast
	}
	masq := &expr.Masq{FullyRandom: fullyRandom}
	fam := nfproto(v4)
	return []ruleSpec{
		{
			exprs:   concat(fam, addrMatch(srcAddr, pod, true), addrMatch(dstAddr, pod, true), []expr.Any{verdict(expr.VerdictReturn)}),
			comment: "pod to pod, on any node: keep the pod address",
		},
		{
			exprs:   concat(fam, addrMatch(dstAddr, node, true), []expr.Any{verdict(expr.VerdictReturn)}),
			comment: "to this node's pods: keep the client address",
		},
		{
			exprs:   concat(fam, addrMatch(srcAddr, pod, true), addrMatch(dstAddr, mcast, false), []expr.Any{masq}),
			comment: "pod to outside the pod network, not multicast",
		},
		{
			exprs:   concat(fam, addrMatch(dstAddr, pod, true), []expr.Any{masq}),
			comment: "outside to other nodes' pods: replies come back through this node",
		},
	}
}

// forwardSpecs returns weft's rules for the iptables FORWARD chain of one
// family: accept from and to the pod network, as flanneld's FLANNEL-FWD
// chain does. The counter makes them identical to what `iptables -I FORWARD
// -s NET -m comment --comment "weft forward" -j ACCEPT` creates.
func forwardSpecs(c Config, v4 bool) []ruleSpec {
	pod, ok := prefixOf(c.PodNetworks, v4)
	if !c.ForwardRules || !ok {
		return nil
	}
	accept := []expr.Any{&expr.Counter{}, verdict(expr.VerdictAccept)}
	return []ruleSpec{
		{exprs: concat(addrMatch(srcAddr, pod, true), accept), comment: ForwardComment},
		{exprs: concat(addrMatch(dstAddr, pod, true), accept), comment: ForwardComment},
	}
}
