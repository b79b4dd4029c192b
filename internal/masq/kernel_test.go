// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package masq

import (
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weft-net/weft/internal/nstest"
)

// arrive is the generous deadline for a datagram that should arrive; gone is
// how long a test waits to conclude that a dropped one does not.
const (
	arrive = 10 * time.Second
	gone   = time.Second
)

const wantTable = `table inet weft {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		meta mark & 0x00004000 == 0x00004000 return comment "kube-proxy masquerades marked packets itself"
		ip saddr 10.244.0.0/16 ip daddr 10.244.0.0/16 return comment "pod to pod, on any node: keep the pod address"
		ip daddr 10.244.1.0/24 return comment "to this node's pods: keep the client address"
		ip saddr 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade fully-random comment "pod to outside the pod network, not multicast"
		ip daddr 10.244.0.0/16 masquerade fully-random comment "outside to other nodes' pods: replies come back through this node"
		ip6 saddr fd00:10:244::/48 ip6 daddr fd00:10:244::/48 return comment "pod to pod, on any node: keep the pod address"
		ip6 daddr fd00:10:244:1::/64 return comment "to this node's pods: keep the client address"
		ip6 saddr fd00:10:244::/48 ip6 daddr != ff00::/8 masquerade fully-random comment "pod to outside the pod network, not multicast"
		ip6 daddr fd00:10:244::/48 masquerade fully-random comment "outside to other nodes' pods: replies come back through this node"
	}
}
`

// TestApplyRuleset pins the rules as nft and iptables-nft print them: the
// readable form is the specification, and iptables-nft must still parse
// its table after weft's inserts (Docker and kube-proxy depend on it).
func TestApplyRuleset(t *testing.T) {
	ns := nstest.New(t)
	ns.MustRun(t, "iptables-nft", "-P", "FORWARD", "DROP")
	ns.MustRun(t, "ip6tables-nft", "-A", "FORWARD", "-j", "DROP")
	m := newManager(t, testConfig(), ns)
	if m.Installed() {
		t.Fatal("Installed before Apply")
	}
	if err := m.Apply(); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !m.Installed() {
		t.Error("not Installed after Apply")
	}
	if diff := cmp.Diff(wantTable, nft(t, ns, "list", "table", "inet", TableName)); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	for _, tt := range []struct{ bin, want string }{
		{"iptables-nft", `-P FORWARD DROP
-A FORWARD -s 10.244.0.0/16 -m comment --comment "weft forward" -j ACCEPT
-A FORWARD -d 10.244.0.0/16 -m comment --comment "weft forward" -j ACCEPT
`},
		{"ip6tables-nft", `-P FORWARD ACCEPT
-A FORWARD -s fd00:10:244::/48 -m comment --comment "weft forward" -j ACCEPT
-A FORWARD -d fd00:10:244::/48 -m comment --comment "weft forward" -j ACCEPT
-A FORWARD -j DROP
`},
	} {
		if diff := cmp.Diff(tt.want, forwardRules(t, ns, tt.bin)); diff != "" {
			t.Errorf("%s -S FORWARD (-want +got):\n%s", tt.bin, diff)
		}
		if out := ns.MustRun(t, tt.bin+"-save"); strings.Contains(out, "incompatible") || strings.Contains(out, "Warning") {
			t.Errorf("%s-save complains:\n%s", tt.bin, out)
		}
	}
}

// TestMasqueradeFlows sends real datagrams through the node and checks the
// source address each receiver sees, with and without Masquerade: pod to
// pod keeps the pod address, pod to outside is masqueraded, the outside
// keeps its address towards this node's pods and, as with flanneld, is
// masqueraded towards other nodes' pods so replies come back this way.
func TestMasqueradeFlows(t *testing.T) {
	tp := newTopo(t)
	flows := []struct {
		name     string
		from, to *nstest.NS
		dst      netip.Addr
		masq     netip.Addr // source seen with Masquerade
		plain    netip.Addr // source seen without
	}{
		{"pod to outside", tp.pod, tp.outside, outIP4, nodeIP4, podIP4},
		{"pod to other node's pod", tp.pod, tp.remote, remoteIP4, podIP4, podIP4},
		{"outside to this node's pod", tp.outside, tp.pod, podIP4, outIP4, outIP4},
		{"outside to other node's pod", tp.outside, tp.remote, remoteIP4, vtepIP4, outIP4},
		{"other node's pod to outside", tp.remote, tp.outside, outIP4, nodeIP4, remoteIP4},
		{"IPv6 pod to outside", tp.pod, tp.outside, outIP6, nodeIP6, podIP6},
		{"IPv6 pod to other node's pod", tp.pod, tp.remote, remoteIP6, podIP6, podIP6},
		{"IPv6 outside to this node's pod", tp.outside, tp.pod, podIP6, outIP6, outIP6},
		{"IPv6 outside to other node's pod", tp.outside, tp.remote, remoteIP6, vtepIP6, outIP6},
	}
	for _, masquerade := range []bool{true, false} {
		cfg := testConfig()
		cfg.Masquerade = masquerade
		if err := newManager(t, cfg, tp.node).Apply(); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		// Each probe uses a new socket, so a new source port and a new
		// conntrack entry: the previous pass's NAT does not carry over.
		for _, f := range flows {
			want := f.plain
			if masquerade {
				want = f.masq
			}
			t.Run(map[bool]string{true: "masquerade", false: "no masquerade"}[masquerade]+"/"+f.name, func(t *testing.T) {
				if got := sourceSeen(t, f.from, f.to, f.dst, arrive); got != want {
					t.Errorf("%s saw source %v, want %v", f.dst, got, want)
				}
			})
		}
	}
}

// TestApplyIdempotent: a second Apply on a converged namespace changes
// nothing, not even rule handles (nft -a shows them).
func TestApplyIdempotent(t *testing.T) {
	ns := nstest.New(t)
	ns.MustRun(t, "iptables-nft", "-P", "FORWARD", "DROP")
	m := newManager(t, testConfig(), ns)
	if err := m.Apply(); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	before := nft(t, ns, "-a", "list", "ruleset")
	for range 2 {
		if err := m.Apply(); err != nil {
			t.Fatalf("Apply again: %v", err)
		}
	}
	if diff := cmp.Diff(before, nft(t, ns, "-a", "list", "ruleset")); diff != "" {
		t.Errorf("ruleset changed by a repeated Apply (-before +after):\n%s", diff)
	}
	// A second Manager (a restarted weftd) adopts the rules as they are.
	m2 := newManager(t, testConfig(), ns)
	if err := m2.Apply(); err != nil {
		t.Fatalf("Apply of a new Manager: %v", err)
	}
	if diff := cmp.Diff(before, nft(t, ns, "-a", "list", "ruleset")); diff != "" {
		t.Errorf("ruleset changed by a restarted Manager (-before +after):\n%s", diff)
	}
	if got, want := m.Stats(), (Stats{Checks: 3}); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

// TestForwardDropPolicy: with iptables' FORWARD policy DROP (as Docker sets
// it), pod traffic through the node is dropped until weft's rules are
// applied, and again after Remove, for iptables-nft and iptables-legacy.
func TestForwardDropPolicy(t *testing.T) {
	for _, variant := range []string{"nft", "legacy"} {
		t.Run(variant, func(t *testing.T) {
			tp := newTopo(t)
			for _, bin := range []string{"iptables-", "ip6tables-"} {
				tp.node.MustRun(t, bin+variant, "-P", "FORWARD", "DROP")
			}
			cfg := testConfig()
			cfg.Masquerade = false // forwarding alone must suffice
			m := newManager(t, cfg, tp.node)
			probe := func(when string, dst netip.Addr, wantPass bool) {
				t.Helper()
				wait, want := gone, netip.Addr{}
				if wantPass {
					wait, want = arrive, podFor(dst)
				}
				if got := sourceSeen(t, tp.pod, tp.outside, dst, wait); got != want {
					t.Errorf("%s: pod to %s arrived from %v, want %v", when, dst, got, want)
				}
			}
			for _, dst := range []netip.Addr{outIP4, outIP6} {
				probe("before Apply", dst, false)
			}
			if err := m.Apply(); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			for _, dst := range []netip.Addr{outIP4, outIP6} {
				probe("after Apply", dst, true)
			}
			if err := m.Remove(); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			for _, dst := range []netip.Addr{outIP4, outIP6} {
				probe("after Remove", dst, false)
			}
		})
	}
}

// podFor returns the pod address of dst's family.
func podFor(dst netip.Addr) netip.Addr {
	if dst.Is4() {
		return podIP4
	}
	return podIP6
}

// TestRemove: Remove deletes weft's table and exactly weft's rules, leaves
// other rules alone, and is idempotent.
func TestRemove(t *testing.T) {
	ns := nstest.New(t)
	for _, bin := range []string{"iptables-nft", "iptables-legacy"} {
		ns.MustRun(t, bin, "-A", "FORWARD", "-s", "10.244.0.0/16", "-j", "ACCEPT")
	}
	m := newManager(t, testConfig(), ns)
	if err := m.Apply(); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for range 2 {
		if err := m.Remove(); err != nil {
			t.Fatalf("Remove: %v", err)
		}
	}
	if m.Installed() {
		t.Error("Installed after Remove")
	}
	if out := nft(t, ns, "list", "tables"); strings.Contains(out, TableName) {
		t.Errorf("table left after Remove:\n%s", out)
	}
	want := "-P FORWARD ACCEPT\n-A FORWARD -s 10.244.0.0/16 -j ACCEPT\n"
	for _, bin := range []string{"iptables-nft", "iptables-legacy"} {
		if diff := cmp.Diff(want, forwardRules(t, ns, bin)); diff != "" {
			t.Errorf("%s -S FORWARD after Remove (-want +got):\n%s", bin, diff)
		}
	}
}

// TestConfigChange: a Manager for a new config converges from the old
// one's rules: stale rules of weft's go, Masquerade or ForwardRules off
// removes their rules.
func TestConfigChange(t *testing.T) {
	ns := nstest.New(t)
	ns.MustRun(t, "iptables-nft", "-P", "FORWARD", "DROP")
	ns.MustRun(t, "iptables-legacy", "-P", "FORWARD", "DROP")
	old := testConfig()
	old.PodNetworks[0], old.NodeSubnets[0] = netip.MustParsePrefix("10.9.0.0/16"), netip.MustParsePrefix("10.9.3.0/24")
	if err := newManager(t, old, ns).Apply(); err != nil {
		t.Fatalf("Apply old: %v", err)
	}
	if err := newManager(t, testConfig(), ns).Apply(); err != nil {
		t.Fatalf("Apply new: %v", err)
	}
	if diff := cmp.Diff(wantTable, nft(t, ns, "list", "table", "inet", TableName)); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	want := `-P FORWARD DROP
-A FORWARD -s 10.244.0.0/16 -m comment --comment "weft forward" -j ACCEPT
-A FORWARD -d 10.244.0.0/16 -m comment --comment "weft forward" -j ACCEPT
`
	for _, bin := range []string{"iptables-nft", "iptables-legacy"} {
		if diff := cmp.Diff(want, forwardRules(t, ns, bin)); diff != "" {
			t.Errorf("%s -S FORWARD (-want +got):\n%s", bin, diff)
		}
	}
	off := testConfig()
	off.Masquerade, off.ForwardRules = false, false
	m := newManager(t, off, ns)
	if err := m.Apply(); err != nil {
		t.Fatalf("Apply off: %v", err)
	}
	if !m.Installed() {
		t.Error("not Installed with nothing to install")
	}
	if out := nft(t, ns, "list", "tables"); strings.Contains(out, TableName) {
		t.Errorf("table left with Masquerade off:\n%s", out)
	}
	for _, bin := range []string{"iptables-nft", "iptables-legacy"} {
		if diff := cmp.Diff("-P FORWARD DROP\n", forwardRules(t, ns, bin)); diff != "" {
			t.Errorf("%s -S FORWARD with ForwardRules off (-want +got):\n%s", bin, diff)
		}
	}
}

// TestIptablesRestoreRoundTrip: after iptables-nft-save | iptables-nft-restore
// weft's rules carry their comment as an xt match; weft still owns them and
// converges to one copy of each.
func TestIptablesRestoreRoundTrip(t *testing.T) {
	ns := nstest.New(t)
	ns.MustRun(t, "iptables-nft", "-P", "FORWARD", "DROP")
	m := newManager(t, testConfig(), ns)
	if err := m.Apply(); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	want := forwardRules(t, ns, "iptables-nft")
	ns.MustRun(t, "sh", "-c", "iptables-nft-save | iptables-nft-restore")
	if err := m.Apply(); err != nil {
		t.Fatalf("Apply after restore: %v", err)
	}
	if diff := cmp.Diff(want, forwardRules(t, ns, "iptables-nft")); diff != "" {
		t.Errorf("iptables-nft -S FORWARD (-want +got):\n%s", diff)
	}
}

// TestEnsureIPForwarding sets both switches in the namespace only.
func TestEnsureIPForwarding(t *testing.T) {
	ns := nstest.New(t)
	root4, err := os.ReadFile(ipv4ForwardFile)
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, testConfig(), ns) // calls EnsureIPForwarding
	if _, err := m.EnsureIPForwarding(); err != nil {
		t.Fatalf("EnsureIPForwarding again: %v", err)
	}
	got := ns.MustRun(t, "sysctl", "-n", "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")
	if got != "1\n1\n" {
		t.Errorf("forwarding sysctls in the namespace = %q, want 1 and 1", got)
	}
	if after, _ := os.ReadFile(ipv4ForwardFile); string(after) != string(root4) {
		t.Errorf("root namespace ip_forward changed from %q to %q", root4, after)
	}
}

// forwardRules returns `BIN -S FORWARD` in ns without the warning comment
// iptables-nft prints when legacy tables exist too.
func forwardRules(t *testing.T, ns *nstest.NS, bin string) string {
	t.Helper()
	var b strings.Builder
	for _, l := range strings.SplitAfter(ns.MustRun(t, bin, "-S", "FORWARD"), "\n") {
		if !strings.HasPrefix(l, "#") {
			b.WriteString(l)
		}
	}
	return b.String()
}

// TestNoIptablesForward: weft creates no iptables table or chain; without a
// FORWARD chain there is no iptables policy to override.
func TestNoIptablesForward(t *testing.T) {
	ns := nstest.New(t)
	ns.MustRun(t, "iptables-nft", "-A", "INPUT", "-j", "ACCEPT")
	m := newManager(t, testConfig(), ns)
	if err := m.Apply(); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	want := "table ip filter\ntable inet weft\n"
	if diff := cmp.Diff(want, nft(t, ns, "list", "tables")); diff != "" {
		t.Errorf("tables (-want +got):\n%s", diff)
	}
	if out := nft(t, ns, "list", "table", "ip", "filter"); strings.Contains(out, "FORWARD") {
		t.Errorf("weft created iptables' FORWARD chain:\n%s", out)
	}
	if tables, _ := ns.Run("cat", "/proc/net/ip_tables_names"); tables != "" {
		t.Errorf("weft created legacy iptables tables: %q", tables)
	}
}
