// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/weft-net/weft/subnet"
)

// withStdin makes confirmation prompts read s.
func withStdin(t *testing.T, s string) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(s)
	t.Cleanup(func() { stdin = old })
}

func TestLeaseShow(t *testing.T) {
	e := newEnv(t)
	e.knownState()
	golden(t, "lease-show.txt", e.scrubTable(e.mustRun("lease", "show", "10.244.1.0/24")))
	golden(t, "lease-show.json", e.scrub(e.mustRun("lease", "show", "10.244.3.0-24", "-o", "json")))
	golden(t, "lease-show-reserved.txt", e.scrubTable(e.mustRun("lease", "show", "10.244.10.0/24")))
	golden(t, "lease-show.yaml", e.scrub(e.mustRun("lease", "show", "10.244.1.0/24", "-o", "yaml")))
	if wide := e.scrubTable(e.mustRun("lease", "show", "10.244.1.0/24", "-o", "wide")); wide != e.scrubTable(e.mustRun("lease", "show", "10.244.1.0/24")) {
		t.Errorf("lease show -o wide differs from the table, which shows every field already:\n%s", wide)
	}

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"not found", []string{"10.244.99.0/24"}, []string{"no lease or reservation for 10.244.99.0/24"}},
		{"host bits", []string{"10.244.1.1/24"}, []string{"host bits set; did you mean 10.244.1.0/24?"}},
		{"not a subnet", []string{"pod-a"}, []string{`subnet "pod-a": want an IPv4 subnet`}},
		{"IPv6", []string{"fd00::/64"}, []string{`want an IPv4 subnet`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.wantFail(tc.want, append([]string{"lease", "show"}, tc.args...)...)
		})
	}
	e.wantUsage([]string{"want one SUBNET, got 0 argument(s)"}, "lease", "show")
	e.wantUsage([]string{"want one SUBNET, got 2 argument(s)"}, "lease", "show", "10.244.1.0/24", "10.244.2.0/24")
}

func TestLeaseRelease(t *testing.T) {
	e := newEnv(t)
	e.knownState()
	ctx := context.Background()
	l, err := e.reg.GetLease(ctx, netip.MustParsePrefix("10.244.1.0/24"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("answer no", func(t *testing.T) {
		withStdin(t, "n\n")
		e.wantFail([]string{"Release 10.244.1.0/24, leased by node 198.18.0.1", "[y/N]", "not confirmed"},
			"lease", "release", "10.244.1.0/24")
		if _, err := e.reg.GetLease(ctx, l.Subnet); err != nil {
			t.Errorf("lease gone after answering no: %v", err)
		}
	})
	t.Run("no input", func(t *testing.T) {
		withStdin(t, "")
		e.wantFail([]string{"not confirmed"}, "lease", "release", "10.244.1.0/24")
	})
	t.Run("reservation", func(t *testing.T) {
		e.wantFail([]string{"10.244.3.0/24 is a reservation for 198.18.0.3", "weftctl unreserve 10.244.3.0/24"},
			"lease", "release", "10.244.3.0/24", "--yes")
	})
	t.Run("not found", func(t *testing.T) {
		e.wantFail([]string{"no lease or reservation for 10.244.77.0/24"}, "lease", "release", "10.244.77.0/24", "--yes")
	})
	t.Run("answer yes", func(t *testing.T) {
		withStdin(t, "yes\n")
		out := e.mustRun("lease", "release", "10.244.1.0/24")
		golden(t, "lease-release.txt", e.scrub(out))
		if _, err := e.reg.GetLease(ctx, l.Subnet); !errors.Is(err, subnet.ErrLeaseNotFound) {
			t.Errorf("GetLease after release = %v, want ErrLeaseNotFound", err)
		}
		if _, err := e.reg.LeaseTTL(ctx, l.LeaseID); !errors.Is(err, subnet.ErrLeaseExpired) {
			t.Errorf("etcd lease after release: %v, want it revoked (ErrLeaseExpired)", err)
		}
	})
	t.Run("--yes json", func(t *testing.T) {
		withStdin(t, "")
		golden(t, "lease-release.json", e.scrub(e.mustRun("lease", "release", "10.244.2.0/24", "--yes", "-o", "json")))
		if _, err := e.reg.GetLease(ctx, netip.MustParsePrefix("10.244.2.0/24")); !errors.Is(err, subnet.ErrLeaseNotFound) {
			t.Errorf("GetLease after release = %v, want ErrLeaseNotFound", err)
		}
	})
}

// TestLeaseUsage: the command group alone prints its help on stdout; an
// unknown sub-command is a usage error.
func TestLeaseUsage(t *testing.T) {
	for _, args := range [][]string{{"lease"}, {"lease", "--help"}, {"help", "lease"}} {
		var out, errb strings.Builder
		code := run(context.Background(), args, &out, &errb)
		if code != 0 || !strings.Contains(out.String(), "weftctl lease [command]") || !strings.Contains(out.String(), "release") || errb.Len() > 0 {
			t.Errorf("weftctl %v: exit %d, stdout %q, stderr %q", args, code, out.String(), errb.String())
		}
	}
	e := newEnv(t)
	e.wantUsage([]string{`unknown command "drop" for "weftctl lease"`}, "lease", "drop")
}

func TestReserve(t *testing.T) {
	e := newEnv(t)
	e.knownState()
	ctx := context.Background()

	out := e.mustRun("reserve", "10.244.20.0/24", "--public-ip", "198.18.0.20")
	golden(t, "reserve.txt", e.scrub(out))
	l, err := e.reg.GetLease(ctx, netip.MustParsePrefix("10.244.20.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	if !l.Reserved() || l.Attrs.PublicIP != netip.MustParseAddr("198.18.0.20") || l.Attrs.BackendData != nil {
		t.Errorf("reservation = %+v, want a key without etcd lease, PublicIP 198.18.0.20, no BackendData", l)
	}
	if out := e.mustRun("reserve", "10.244.20.0/24", "--public-ip", "198.18.0.20"); !strings.Contains(out, "already reserved") {
		t.Errorf("reserving twice: %q, want already reserved", out)
	}
	golden(t, "reserve.json", e.scrub(e.mustRun("reserve", "10.244.21.0/24", "--public-ip", "198.18.0.21", "-o", "json")))

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"held by another node", []string{"10.244.1.0/24", "--public-ip", "198.18.0.9"},
			[]string{"10.244.1.0-24 is held by node 198.18.0.1 (etcd lease", "weftctl lease release 10.244.1.0/24"}},
		{"reserved for another node", []string{"10.244.3.0/24", "--public-ip", "198.18.0.9"},
			[]string{"held by node 198.18.0.3 (a reservation)", "weftctl unreserve 10.244.3.0/24"}},
		{"outside the network", []string{"10.245.1.0/24", "--public-ip", "198.18.0.9"},
			[]string{"10.245.1.0/24 is outside Network 10.244.0.0/16"}},
		{"wrong length", []string{"10.244.4.0/25", "--public-ip", "198.18.0.9"},
			[]string{"10.244.4.0/25 is a /25, and SubnetLen is 24"}},
		{"misaligned", []string{"10.244.4.128/24", "--public-ip", "198.18.0.9"},
			[]string{"host bits set; did you mean 10.244.4.0/24?"}},
		{"below SubnetMin", []string{"10.244.0.0/24", "--public-ip", "198.18.0.9"},
			[]string{"10.244.0.0/24 is below SubnetMin 10.244.1.0"}},
		{"node has another reservation", []string{"10.244.5.0/24", "--public-ip", "198.18.0.3"},
			[]string{"that node already has the reservation 10.244.3.0-24", "weftctl unreserve 10.244.3.0/24"}},
		{"IPv6 subnet without IPv6", []string{"10.244.5.0/24", "--public-ip", "198.18.0.5", "--ipv6-subnet", "fd00:10:244:5::/64"},
			[]string{"does not enable IPv6"}},
	} {
		t.Run(tc.name, func(t *testing.T) { e.wantFail(tc.want, append([]string{"reserve"}, tc.args...)...) })
	}

	e.wantUsage([]string{"--public-ip: an IPv4 address is required"}, "reserve", "10.244.5.0/24")
	e.wantUsage([]string{"--public-ip: an IPv4 address is required"}, "reserve", "10.244.5.0/24", "--public-ip", "2001:db8:18::5")
	e.wantUsage([]string{`invalid argument "10.244.5.5/24" for "--public-ip" flag: ParseAddr("10.244.5.5/24"): unexpected character (at "/24")`}, "reserve", "10.244.5.0/24", "--public-ip", "10.244.5.5/24")

	t.Run("node with a lease elsewhere", func(t *testing.T) {
		r := e.run("reserve", "10.244.30.0/24", "--public-ip", "198.18.0.1")
		if r.code != 0 || !strings.Contains(r.stderr, "node 198.18.0.1 holds 10.244.1.0/24 now") ||
			!strings.Contains(r.stderr, "moves to 10.244.30.0/24 at its next start") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("convert own lease", func(t *testing.T) {
		before, err := e.reg.GetLease(ctx, netip.MustParsePrefix("10.244.2.0/24"))
		if err != nil {
			t.Fatal(err)
		}
		out := e.mustRun("reserve", "10.244.2.0/24", "--public-ip", "198.18.0.2")
		if !strings.Contains(out, "converted the lease of 10.244.2.0/24 on 198.18.0.2 into a reservation") {
			t.Errorf("output %q", out)
		}
		after, err := e.reg.GetLease(ctx, before.Subnet)
		if err != nil {
			t.Fatal(err)
		}
		if !after.Reserved() || string(after.Attrs.BackendData) != string(before.Attrs.BackendData) {
			t.Errorf("after = %+v, want a reservation keeping BackendData %s", after, before.Attrs.BackendData)
		}
		if _, err := e.reg.LeaseTTL(ctx, before.LeaseID); !errors.Is(err, subnet.ErrLeaseExpired) {
			t.Errorf("old etcd lease: %v, want revoked", err)
		}
	})
}

func TestReserveDualStack(t *testing.T) {
	e := newEnv(t)
	e.putConfig(`{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/48","Backend":{"Type":"vxlan"}}`)
	e.mustRun("reserve", "10.244.5.0/24", "--public-ip", "198.18.0.5", "--public-ipv6", "2001:db8:18::5")
	l, err := e.reg.GetLease(context.Background(), netip.MustParsePrefix("10.244.5.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	// SubnetMin 10.244.1.0 pairs with IPv6SubnetMin fd00:10:244:1::, so index 4 with :5::.
	if l.Key() != "10.244.5.0-24&fd00:10:244:5::-64" || l.Attrs.PublicIPv6 != netip.MustParseAddr("2001:db8:18::5") {
		t.Errorf("reservation %s %+v, want key 10.244.5.0-24&fd00:10:244:5::-64 with PublicIPv6", l.Key(), l.Attrs)
	}
	e.mustRun("reserve", "10.244.6.0/24", "--public-ip", "198.18.0.6", "--ipv6-subnet", "fd00:10:244:60::/64")
	e.wantFail([]string{"fd00:10:245::/64 is outside IPv6Network fd00:10:244::/48"}, "reserve", "10.244.7.0/24",
		"--public-ip", "198.18.0.7", "--ipv6-subnet", "fd00:10:245::/64")
	e.wantFail([]string{"held by node 198.18.0.6"}, "reserve", "10.244.8.0/24", "--public-ip", "198.18.0.8",
		"--ipv6-subnet", "fd00:10:244:60::/64")
}

func TestUnreserve(t *testing.T) {
	e := newEnv(t)
	e.knownState()
	ctx := context.Background()
	e.wantFail([]string{"10.244.1.0/24 is not a reservation: node 198.18.0.1 holds it with etcd lease", "weftctl lease release 10.244.1.0/24"},
		"unreserve", "10.244.1.0/24")
	e.wantFail([]string{"no lease or reservation for 10.244.50.0/24"}, "unreserve", "10.244.50.0/24")

	// A reservation no node has taken is deleted without a question.
	withStdin(t, "")
	golden(t, "unreserve.txt", e.mustRun("unreserve", "10.244.10.0/24"))
	if _, err := e.reg.GetLease(ctx, netip.MustParsePrefix("10.244.10.0/24")); !errors.Is(err, subnet.ErrLeaseNotFound) {
		t.Errorf("after unreserve: %v", err)
	}
	// One a node uses asks first.
	e.wantFail([]string{"Node 198.18.0.3 uses the reservation 10.244.3.0/24", "not confirmed"}, "unreserve", "10.244.3.0/24")
	withStdin(t, "y\n")
	golden(t, "unreserve.json", e.scrub(e.mustRun("unreserve", "10.244.3.0/24", "-o", "json")))
	if _, err := e.reg.GetLease(ctx, netip.MustParsePrefix("10.244.3.0/24")); !errors.Is(err, subnet.ErrLeaseNotFound) {
		t.Errorf("after unreserve: %v", err)
	}
}

func TestConfirm(t *testing.T) {
	for _, tc := range []struct {
		in   string
		yes  bool
		want error
	}{
		{"y\n", false, nil}, {"YES\n", false, nil}, {" yes ", false, nil},
		{"n\n", false, errNotConfirmed}, {"\n", false, errNotConfirmed}, {"", false, errNotConfirmed},
		{"sure\n", false, errNotConfirmed}, {"", true, nil},
	} {
		old := stdin
		stdin = strings.NewReader(tc.in)
		err := confirm(io.Discard, "go?", tc.yes)
		stdin = old
		if !errors.Is(err, tc.want) {
			t.Errorf("confirm(%q, yes=%v) = %v, want %v", tc.in, tc.yes, err, tc.want)
		}
	}
}
