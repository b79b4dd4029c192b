// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package masq

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weft-net/weft/internal/nstest"
)

func v6OnlyConfig() Config {
	c := testConfig()
	c.PodNetworks, c.NodeSubnets = []netip.Prefix{podNet6}, []netip.Prefix{nodeNet6}
	return c
}

// An IPv6-only network gets IPv6 rules only: the ip6 half of the table,
// ip6tables FORWARD rules, IPv6 forwarding; nothing of IPv4 is touched.
func TestIPv6OnlyRuleset(t *testing.T) {
	ns := nstest.New(t)
	// Both families have a FORWARD chain (weft adds its rules to existing
	// chains only): IPv4's must stay as it was.
	ns.MustRun(t, "iptables-nft", "-P", "FORWARD", "DROP")
	ns.MustRun(t, "ip6tables-nft", "-P", "FORWARD", "DROP")
	m := newManager(t, v6OnlyConfig(), ns)
	if err := m.Apply(); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	want := `table inet weft {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		meta mark & 0x00004000 == 0x00004000 return comment "kube-proxy masquerades marked packets itself"
		ip6 saddr fd00:10:244::/48 ip6 daddr fd00:10:244::/48 return comment "pod to pod, on any node: keep the pod address"
		ip6 daddr fd00:10:244:1::/64 return comment "to this node's pods: keep the client address"
		ip6 saddr fd00:10:244::/48 ip6 daddr != ff00::/8 masquerade fully-random comment "pod to outside the pod network, not multicast"
		ip6 daddr fd00:10:244::/48 masquerade fully-random comment "outside to other nodes' pods: replies come back through this node"
	}
}
`
	if diff := cmp.Diff(want, nft(t, ns, "list", "table", "inet", TableName)); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	if got := forwardRules(t, ns, "ip6tables-nft"); !strings.Contains(got, "-A FORWARD -s fd00:10:244::/48 -m comment --comment \"weft forward\" -j ACCEPT") {
		t.Errorf("ip6tables FORWARD lacks weft's rules:\n%s", got)
	}
	if got := forwardRules(t, ns, "iptables-nft"); got != "-P FORWARD DROP\n" {
		t.Errorf("IPv4 FORWARD touched in an IPv6-only network:\n%s", got)
	}
	if got := ns.MustRun(t, "sysctl", "-n", "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"); got != "0\n1\n" {
		t.Errorf("forwarding sysctls = %q, want IPv4 left at 0 and IPv6 on", got)
	}
}

// IPv6 masquerade in an IPv6-only network behaves as in dual stack:
// pod-to-pod keeps addresses, pod-to-outside takes the node's.
func TestIPv6OnlyMasqueradeFlows(t *testing.T) {
	tp := newTopo(t)
	if err := newManager(t, v6OnlyConfig(), tp.node).Apply(); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for _, f := range []struct {
		name     string
		from, to *nstest.NS
		dst      netip.Addr
		want     netip.Addr
	}{
		{"pod to outside", tp.pod, tp.outside, outIP6, nodeIP6},
		{"pod to other node's pod", tp.pod, tp.remote, remoteIP6, podIP6},
		{"outside to this node's pod", tp.outside, tp.pod, podIP6, outIP6},
		{"outside to other node's pod", tp.outside, tp.remote, remoteIP6, vtepIP6},
	} {
		t.Run(f.name, func(t *testing.T) {
			if got := sourceSeen(t, f.from, f.to, f.dst, arrive); got != f.want {
				t.Errorf("%s saw source %v, want %v", f.dst, got, f.want)
			}
		})
	}
}
