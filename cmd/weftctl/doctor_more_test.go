// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/subnetenv"
)

// TestDoctorText shows a drifted node as a person sees it.
func TestDoctorText(t *testing.T) {
	n := newNode(t, newEnv(t), vxlanConfig)
	n.ip("route del 10.244.2.0/24")
	n.bridge("fdb append 0a:00:00:00:00:09 dev flannel.1 dst 198.18.0.9 self permanent")
	r := n.run("doctor", "--netns", n.ns.Path(), "--subnet-file", n.subnetFile)
	if r.code != 1 {
		t.Fatalf("doctor: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	golden(t, "doctor-drift.txt", n.scrub(r.stdout))
	r = n.run("doctor", "--netns", n.ns.Path(), "--subnet-file", n.subnetFile, "-o", "json")
	golden(t, "doctor-drift.json", n.scrub(r.stdout))
}

func TestDoctorNoConfig(t *testing.T) {
	e := newEnv(t)
	n := newNode(t, e, vxlanConfig)
	if _, err := e.srv.Client(t).Delete(context.Background(), e.reg.ConfigKey()); err != nil {
		t.Fatal(err)
	}
	rep, _ := n.doctor()
	if diff := cmp.Diff([]string{"config network config unusable"}, summary(rep.Findings)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestDoctorNetnsFlag(t *testing.T) {
	e := newEnv(t)
	e.putConfig(vxlanConfig)
	e.wantFail([]string{"--netns /nonexistent/netns"}, "doctor", "--netns", "/nonexistent/netns")
}

// TestDoctorDirectRouting: with DirectRouting a peer on the underlay's
// subnet is routed via its PublicIP on the underlay, without VXLAN entries.
func TestDoctorDirectRouting(t *testing.T) {
	e := newEnv(t)
	n := newNode(t, e, `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","DirectRouting":true}}`)
	n.bridge("fdb del " + mac2 + " dev flannel.1 dst 198.18.0.2 self")
	n.ip("neigh del 10.244.2.0 dev flannel.1")
	n.ip("route replace 10.244.2.0/24 via 198.18.0.2 dev eth0 proto 87 metric " + metric("10.244.2.0/24"))
	if rep, r := n.doctor(); !rep.Healthy {
		t.Fatalf("direct routing node: %v\n%s", summary(rep.Findings), r.stdout)
	}
	// The encapsulated form is wrong for a direct peer.
	n.ip("route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink proto 87 metric " + metric("10.244.2.0/24"))
	rep, _ := n.doctor()
	if diff := cmp.Diff([]string{"route 10.244.2.0/24 wrong"}, summary(rep.Findings)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

const (
	mac61 = "0a:00:00:00:01:01"
	mac62 = "0a:00:00:00:01:02"
)

// TestDoctorDualStack checks flannel-v6.1 and the IPv6 entries too.
func TestDoctorDualStack(t *testing.T) {
	e := newEnv(t)
	n := newNode(t, e, vxlanConfig)
	// Switch the node to dual stack: new config and leases, a second device.
	e.putConfig(`{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/48","Backend":{"Type":"vxlan"}}`)
	ctx := context.Background()
	leases, _, err := e.reg.ListLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases {
		if err := e.reg.DeleteLease(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	n.own = e.dualLease("10.244.1.0-24&fd00:10:244:1::-64", "198.18.0.1", "2001:db8:18::1", mac1, mac61)
	e.dualLease("10.244.2.0-24&fd00:10:244:2::-64", "198.18.0.2", "2001:db8:18::2", mac2, mac62)
	n.ip("route del 10.244.3.0/24")
	n.ip("neigh del 10.244.3.0 dev flannel.1")
	n.bridge("fdb del " + mac3 + " dev flannel.1 dst 198.18.1.3 self")
	n.sysctl("net.ipv6.conf.all.forwarding=1")
	n.ip("-6 addr add 2001:db8:18::1/64 dev eth0 nodad")
	n.ip("link add flannel-v6.1 type vxlan id 1 local 2001:db8:18::1 dstport 8472 dev eth0 nolearning")
	n.ip("link set flannel-v6.1 address " + mac61 + " mtu 1430 up")
	n.ip("-6 addr add fd00:10:244:1::/128 dev flannel-v6.1 nodad")
	n.bridge("fdb append " + mac62 + " dev flannel-v6.1 dst 2001:db8:18::2 self permanent")
	n.ip("-6 neigh replace fd00:10:244:2:: lladdr " + mac62 + " dev flannel-v6.1 nud permanent")
	n.ip("-6 route replace fd00:10:244:2::/64 via fd00:10:244:2:: dev flannel-v6.1 onlink proto 87")
	n.writeEnv(subnetenv.Env{
		Networks: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}, Subnet: netip.MustParsePrefix("10.244.1.1/24"),
		IPv6Network: netip.MustParsePrefix("fd00:10:244::/48"), IPv6Subnet: netip.MustParsePrefix("fd00:10:244:1::1/64"), MTU: 1450,
	})
	if rep, r := n.doctor(); !rep.Healthy {
		t.Fatalf("dual-stack node: %v\n%s", summary(rep.Findings), r.stdout)
	}
	n.ip("-6 route del fd00:10:244:2::/64")
	n.ip("-6 neigh replace fd00:10:244:2:: lladdr 0a:00:00:00:01:99 dev flannel-v6.1 nud permanent")
	n.ip("link set flannel-v6.1 mtu 1400")
	rep, r := n.doctor()
	want := []string{"device flannel-v6.1 wrong", "route fd00:10:244:2::/64 missing", "neighbour fd00:10:244:2:: wrong"}
	if diff := cmp.Diff(want, summary(rep.Findings)); diff != "" {
		t.Errorf("findings (-want +got):\n%s\n%s", diff, r.stdout)
	}
	n.ip("link del flannel-v6.1")
	rep, _ = n.doctor()
	if diff := cmp.Diff([]string{"device flannel-v6.1 missing"}, summary(rep.Findings)); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func (e *tenv) dualLease(key, ip, ip6, mac, mac6 string) subnet.Lease {
	e.t.Helper()
	sn, sn6, err := subnet.ParseSubnetKey(key)
	if err != nil {
		e.t.Fatal(err)
	}
	l := subnet.Lease{Subnet: sn, IPv6Subnet: sn6, Attrs: subnet.LeaseAttrs{
		PublicIP: mustAddr(e.t, ip), PublicIPv6: mustAddr(e.t, ip6), BackendType: subnet.BackendVXLAN,
		BackendData:   json.RawMessage(`{"VNI":1,"VtepMAC":"` + mac + `"}`),
		BackendV6Data: json.RawMessage(`{"VNI":1,"VtepMAC":"` + mac6 + `"}`),
	}}
	if l, err = e.reg.CreateLease(context.Background(), l, 24*time.Hour); err != nil {
		e.t.Fatal(err)
	}
	return l
}

// TestCheckOwnExpiry covers the expiry states without waiting for a lease
// to run out: an expired etcd lease, one within the margin, a reservation.
func TestCheckOwnExpiry(t *testing.T) {
	sn := netip.MustParsePrefix("10.244.1.0/24")
	for _, tc := range []struct {
		name    string
		leaseID int64
		ttl     time.Duration
		ttlErr  error
		want    []string
	}{
		{"expired", 7, 0, subnet.ErrLeaseExpired, []string{"lease 10.244.1.0-24 expired"}},
		{"expiring", 7, 10 * time.Minute, nil, []string{"lease 10.244.1.0-24 expiring"}},
		{"fine", 7, 2 * time.Hour, nil, []string{}},
		{"reservation", 0, 0, nil, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			own := subnet.Lease{Subnet: sn, LeaseID: tc.leaseID}
			v := &nodeView{flags: doctorFlags{renewMargin: time.Hour}, own: &own, ttl: tc.ttl, ttlErr: tc.ttlErr,
				fams: []*famView{{name: "flannel.1"}}}
			v.checkOwn()
			if diff := cmp.Diff(tc.want, summary(v.findings)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDoctorRouteForms: an older form of weft's route (metric 0: an older
// weftd's or flanneld's) and a foreign route that shadows weft's are
// reported with a fix that, run as printed, makes the node healthy: the
// new route first, then the older one deleted by its metric.
func TestDoctorRouteForms(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, problem string
		break_        []string
	}{
		{"older weft form", "wrong", []string{"route del 10.244.2.0/24",
			"route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink proto 87"}},
		{"flanneld form beside weft's", "extra", []string{"route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink"}},
		{"shadowed", "shadowed", []string{"route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink proto static"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, e.sub(t), vxlanConfig)
			for _, c := range tc.break_ {
				n.ip(c)
			}
			rep, r := n.doctor()
			if d := cmp.Diff([]string{"route 10.244.2.0/24 " + tc.problem}, summary(rep.Findings)); d != "" {
				t.Fatalf("findings (-want +got):\n%s\n%s", d, r.stdout)
			}
			fix := strings.TrimPrefix(rep.Findings[0].Fix, "if nothing on this node needs it: ")
			for _, c := range strings.Split(fix, ", then ") {
				if !strings.HasPrefix(c, "ip ") {
					t.Fatalf("fix %q is not a list of ip commands", rep.Findings[0].Fix)
				}
				n.ip(strings.TrimPrefix(c, "ip "))
			}
			if rep, r := n.doctor(); !rep.Healthy {
				t.Errorf("after the fix %q: %v\n%s", fix, summary(rep.Findings), r.stdout)
			}
		})
	}
}
