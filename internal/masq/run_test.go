// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package masq

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weft-net/weft/internal/nstest"
	"github.com/weft-net/weft/internal/poll"
)

// restoreDeadline is generous: Run repairs within an Interval (100 ms here)
// or at once on an nftables event, but CI machines can be slow.
const restoreDeadline = 30 * time.Second

// snapshot is everything weft owns in ns, as the tools print it. It lists
// legacy iptables only if its filter table exists: listing creates it.
func snapshot(t *testing.T, ns *nstest.NS) string {
	t.Helper()
	out, _ := ns.Run("nft", "list", "table", "inet", TableName)
	out += forwardRules(t, ns, "iptables-nft") + forwardRules(t, ns, "ip6tables-nft")
	if tables, _ := ns.Run("cat", "/proc/net/ip_tables_names"); strings.Contains(tables, "filter") {
		out += forwardRules(t, ns, "iptables-legacy")
	}
	return out
}

// startRun runs m.Run until the test ends and checks that it returns nil
// once cancelled.
func startRun(t *testing.T, m *Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(restoreDeadline):
			t.Error("Run did not return after cancel")
		}
	})
}

// waitRestored polls until snapshot equals want.
func waitRestored(t *testing.T, ns *nstest.NS, want, what string) {
	t.Helper()
	poll.Until(t, restoreDeadline, what+": rules restored", func() (bool, string) {
		got := snapshot(t, ns)
		return got == want, "(-want +got):\n" + cmp.Diff(want, got)
	})
}

// TestRunRestores tampers with weft's rules by hand, as an operator or a
// firewall reload would, and waits for Run to put them back.
func TestRunRestores(t *testing.T) {
	ns := nstest.New(t)
	for _, bin := range []string{"iptables-nft", "ip6tables-nft", "iptables-legacy"} {
		ns.MustRun(t, bin, "-P", "FORWARD", "DROP")
	}
	m := newManager(t, testConfig(), ns)
	if err := m.Apply(); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	want := snapshot(t, ns)
	startRun(t, m)

	// No churn while the rules are right: handles stay, no repair counted.
	handles := nft(t, ns, "-a", "list", "ruleset")
	for checks := m.Stats().Checks; m.Stats().Checks < checks+5; {
		time.Sleep(50 * time.Millisecond)
	}
	if diff := cmp.Diff(handles, nft(t, ns, "-a", "list", "ruleset")); diff != "" {
		t.Fatalf("Run changed correct rules (-before +after):\n%s", diff)
	}
	if r := m.Stats().Repairs; r != 0 {
		t.Fatalf("Repairs = %d with nothing to repair", r)
	}

	tamper := [][]string{
		{"nft", "delete", "table", "inet", TableName},
		{"nft", "flush", "chain", "inet", TableName, postroutingChain},
		{"nft", "add", "rule", "inet", TableName, postroutingChain, "ip", "saddr", "10.244.0.0/16", "accept"},
		{"nft", "add", "table", "inet", TableName, "{ flags dormant; }"},
		{"nft", "add", "chain", "inet", TableName, "extra"},
		{"nft", "add", "set", "inet", TableName, "extra", "{ type ipv4_addr; }"},
		{"iptables-nft", "-F", "FORWARD"},
		{"ip6tables-nft", "-D", "FORWARD", "1"},
		{"iptables-legacy", "-F", "FORWARD"},
		// Docker restarting: the iptables-nft table vanishes and comes back.
		{"sh", "-c", "nft delete table ip filter && iptables-nft -P FORWARD DROP"},
	}
	for i, cmd := range tamper {
		ns.MustRun(t, cmd...)
		waitRestored(t, ns, want, cmd[len(cmd)-1]+" "+cmd[0])
		if !m.Installed() {
			// Installed follows the check that repaired; give it a moment.
			waitInstalled(t, m)
		}
		if r := m.Stats().Repairs; r < uint64(i+1) {
			t.Errorf("after %v: Repairs = %d, want at least %d", cmd, r, i+1)
		}
	}
}

func waitInstalled(t *testing.T, m *Manager) {
	t.Helper()
	deadline := time.Now().Add(restoreDeadline)
	for !m.Installed() {
		if time.Now().After(deadline) {
			t.Fatal("not Installed after the repair")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunWatchesNFTables: with a periodic check too far away to matter, a
// deleted table still comes back, from the nftables change notification.
func TestRunWatchesNFTables(t *testing.T) {
	ns := nstest.New(t)
	ns.MustRun(t, "iptables-nft", "-P", "FORWARD", "DROP")
	cfg := testConfig()
	cfg.Interval = time.Hour
	m := newManager(t, cfg, ns)
	startRun(t, m)
	waitInstalled(t, m)
	want := snapshot(t, ns)
	ns.MustRun(t, "nft", "delete", "table", "inet", TableName)
	waitRestored(t, ns, want, "delete table")
	ns.MustRun(t, "iptables-nft", "-F", "FORWARD")
	waitRestored(t, ns, want, "iptables -F FORWARD")
}
