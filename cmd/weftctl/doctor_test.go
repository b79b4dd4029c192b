// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sirupsen/logrus/hooks/test"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/backend/vxlan"
	"github.com/weft-net/weft/internal/nstest"
	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/etcd"
	"github.com/weft-net/weft/subnet/subnetenv"
)

// MACs of the test nodes' VTEPs: node n has 0a:00:00:00:00:0n.
const (
	mac1 = "0a:00:00:00:00:01"
	mac2 = "0a:00:00:00:00:02"
	mac3 = "0a:00:00:00:00:03"
)

// testNode is node 1 of a 3-node cluster as weftd would leave it: etcd
// holds the config and the leases, a namespace holds the kernel state
// (built with ip and bridge, as compat.md describes it) and subnetFile is
// its subnet.env.
type testNode struct {
	*tenv
	ns         *nstest.NS
	subnetFile string
	own        subnet.Lease
}

// sub returns a tenv on the same etcd server with the subtest's own prefix.
func (e *tenv) sub(t *testing.T) *tenv {
	log, _ := test.NewNullLogger()
	prefix := "/weftctl-test/" + strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return &tenv{t: t, srv: e.srv, prefix: prefix, reg: etcd.New(e.srv.Client(t), prefix, log)}
}

// newNode builds a healthy node: peer 2 (a live lease) and peer 3 (a
// reservation in use), plus a reservation no node has taken.
func newNode(t *testing.T, e *tenv, cfg string) *testNode {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped with -short: builds kernel state in a network namespace (root)")
	}
	n := &testNode{tenv: e, ns: nstest.New(t), subnetFile: filepath.Join(t.TempDir(), "subnet.env")}
	e.putConfig(cfg)
	n.own = e.lease("10.244.1.0-24", "198.18.0.1", mac1, 24*time.Hour)
	e.lease("10.244.2.0-24", "198.18.0.2", mac2, 24*time.Hour)
	e.lease("10.244.3.0-24", "198.18.1.3", mac3, 0)
	e.lease("10.244.10.0-24", "198.18.0.10", "", 0)
	// A veth pair as the underlay (this kernel may lack the dummy driver).
	n.ip("link add eth0 type veth peer name eth0p")
	n.ip("addr add 198.18.0.1/24 dev eth0")
	n.ip("link set eth0p up")
	n.ip("link set eth0 up")
	n.ip("route add 198.18.1.0/24 via 198.18.0.254 dev eth0")
	n.sysctl("net.ipv4.ip_forward=1") // weftd turns it on; a new namespace starts with it off
	n.addDevice("id 1 local 198.18.0.1 dstport 8472")
	n.peer("10.244.2.0", mac2, "198.18.0.2")
	n.peer("10.244.3.0", mac3, "198.18.1.3")
	n.writeEnv(subnetenv.Env{
		Networks: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		Subnet:   netip.MustParsePrefix("10.244.1.1/24"), MTU: 1450,
	})
	return n
}

func (n *testNode) ip(args string) {
	n.ns.MustRun(n.t, append([]string{"ip"}, strings.Fields(args)...)...)
}

// sysctl sets one sysctl inside the node's namespace.
func (n *testNode) sysctl(kv string) {
	n.ns.MustRun(n.t, "sysctl", "-q", "-w", kv)
}

func (n *testNode) bridge(args string) {
	n.ns.MustRun(n.t, append([]string{"bridge"}, strings.Fields(args)...)...)
}

// addDevice creates flannel.1 as weftd does: VXLAN attributes, our VTEP
// MAC, MTU 1500 − 50, our subnet address as a /32, up.
func (n *testNode) addDevice(attrs string) {
	n.ip("link add flannel.1 type vxlan " + attrs + " dev eth0 nolearning")
	n.ip("link set flannel.1 address " + mac1 + " mtu 1450 up")
	n.ip("addr add 10.244.1.0/32 dev flannel.1")
}

// peer programs a peer's FDB, neighbour and route entries.
func (n *testNode) peer(subnetAddr, mac, public string) {
	n.bridge("fdb append " + mac + " dev flannel.1 dst " + public + " self permanent")
	n.ip("neigh replace " + subnetAddr + " lladdr " + mac + " dev flannel.1 nud permanent")
	n.ip("route replace " + subnetAddr + "/24 via " + subnetAddr + " dev flannel.1 onlink proto 87 metric " + metric(subnetAddr+"/24"))
}

// metric is weft's route metric for a peer subnet, as text for ip.
func metric(sn string) string {
	return strconv.FormatUint(uint64(vxlan.RouteMetric(netip.MustParsePrefix(sn))), 10)
}

func (n *testNode) writeEnv(env subnetenv.Env) {
	if err := subnetenv.Write(n.subnetFile, env); err != nil {
		n.t.Fatal(err)
	}
}

// doctor runs weftctl doctor on the node and returns the parsed report.
func (n *testNode) doctor(extra ...string) (doctorReport, result) {
	n.t.Helper()
	r := n.run(append([]string{"doctor", "--netns", n.ns.Path(), "--subnet-file", n.subnetFile, "-o", "json"}, extra...)...)
	var rep doctorReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		n.t.Fatalf("doctor output is not a report (exit %d): %v\nstdout:\n%s\nstderr:\n%s", r.code, err, r.stdout, r.stderr)
	}
	if want := map[bool]int{true: 0, false: 1}[rep.Healthy]; r.code != want {
		n.t.Errorf("doctor exit %d with healthy=%v, want %d", r.code, rep.Healthy, want)
	}
	for _, f := range rep.Findings {
		if f.Detail == "" || f.Fix == "" {
			n.t.Errorf("finding %+v lacks a detail or a fix", f)
		}
	}
	return rep, r
}

// summary reduces findings to "check subject problem" lines.
func summary(fs []finding) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Check+" "+f.Subject+" "+f.Problem)
	}
	return out
}

const vxlanConfig = `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}`

func TestDoctorHealthy(t *testing.T) {
	n := newNode(t, newEnv(t), vxlanConfig)
	rep, _ := n.doctor()
	if !rep.Healthy || len(rep.Findings) != 0 {
		t.Fatalf("healthy node: %v", summary(rep.Findings))
	}
	want := nodeReport{Etcd: "ok", Weftd: weftdNoListener, PublicIP: "198.18.0.1", Subnet: "10.244.1.0/24", EtcdLeaseID: leaseIDString(n.own.LeaseID),
		Device: "flannel.1", Peers: 2, Leases: 4}
	if diff := cmp.Diff(want, rep.Node, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "ExpiresIn" }, cmp.Ignore())); diff != "" {
		t.Errorf("node (-want +got):\n%s", diff)
	}
	r := n.run("doctor", "--netns", n.ns.Path(), "--subnet-file", n.subnetFile)
	if r.code != 0 {
		t.Fatalf("doctor: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	golden(t, "doctor-healthy.txt", n.scrub(r.stdout))
}

// TestDoctorDrift breaks one thing at a time on a healthy node and checks
// that doctor reports exactly that (contains: at least that, for breakage
// that drags other findings along, such as a re-created device).
func TestDoctorDrift(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		cfg      string
		break_   func(n *testNode)
		args     []string
		want     []string
		contains bool
	}{
		{name: "route missing", break_: func(n *testNode) { n.ip("route del 10.244.2.0/24") },
			want: []string{"route 10.244.2.0/24 missing"}},
		{name: "route wrong", break_: func(n *testNode) {
			n.ip("route replace 10.244.2.0/24 via 10.244.3.0 dev flannel.1 onlink proto 87 metric " + metric("10.244.2.0/24"))
		}, want: []string{"route 10.244.2.0/24 wrong"}},
		{name: "route in an older weft's form", break_: func(n *testNode) {
			n.ip("route del 10.244.2.0/24")
			n.ip("route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink proto 87")
		}, want: []string{"route 10.244.2.0/24 wrong"}},
		{name: "route in an older form beside weft's", break_: func(n *testNode) {
			n.ip("route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink") // flanneld's, metric 0
		}, want: []string{"route 10.244.2.0/24 extra"}},
		{name: "route shadowed", break_: func(n *testNode) {
			n.ip("route add 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink proto static")
		}, want: []string{"route 10.244.2.0/24 shadowed"}},
		{name: "route extra", break_: func(n *testNode) {
			n.ip("route add 10.244.9.0/24 via 10.244.9.0 dev flannel.1 onlink")
		}, want: []string{"route 10.244.9.0/24 extra"}},
		{name: "stale weft route elsewhere", break_: func(n *testNode) {
			n.ip("route add 10.244.8.0/24 via 198.18.0.8 dev eth0 proto 87")
		}, want: []string{"route 10.244.8.0/24 extra"}},
		{name: "neighbour missing", break_: func(n *testNode) { n.ip("neigh del 10.244.2.0 dev flannel.1") },
			want: []string{"neighbour 10.244.2.0 missing"}},
		{name: "neighbour wrong", break_: func(n *testNode) {
			n.ip("neigh replace 10.244.2.0 lladdr 0a:00:00:00:00:99 dev flannel.1 nud permanent")
		}, want: []string{"neighbour 10.244.2.0 wrong"}},
		{name: "neighbour extra", break_: func(n *testNode) {
			n.ip("neigh add 10.244.9.0 lladdr 0a:00:00:00:00:09 dev flannel.1 nud permanent")
		}, want: []string{"neighbour 10.244.9.0 extra"}},
		{name: "fdb missing", break_: func(n *testNode) { n.bridge("fdb del " + mac2 + " dev flannel.1 dst 198.18.0.2 self") },
			want: []string{"fdb " + mac2 + " missing"}},
		{name: "fdb wrong", break_: func(n *testNode) {
			n.bridge("fdb del " + mac2 + " dev flannel.1 dst 198.18.0.2 self")
			n.bridge("fdb append " + mac2 + " dev flannel.1 dst 198.18.0.99 self permanent")
		}, want: []string{"fdb " + mac2 + " wrong"}},
		{name: "fdb extra", break_: func(n *testNode) {
			n.bridge("fdb append 0a:00:00:00:00:09 dev flannel.1 dst 198.18.0.9 self permanent")
		}, want: []string{"fdb 0a:00:00:00:00:09 extra"}},
		{name: "device missing", break_: func(n *testNode) { n.ip("link del flannel.1") },
			want: []string{"device flannel.1 missing"}},
		{name: "device VNI", break_: func(n *testNode) {
			n.ip("link del flannel.1")
			n.addDevice("id 2 local 198.18.0.1 dstport 8472")
		}, want: []string{"device flannel.1 wrong", "route 10.244.2.0/24 missing"}, contains: true},
		{name: "device port", break_: func(n *testNode) {
			n.ip("link del flannel.1")
			n.addDevice("id 1 local 198.18.0.1 dstport 4789")
		}, want: []string{"device flannel.1 wrong"}, contains: true},
		{name: "device local address", args: []string{"--public-ip", "198.18.0.1"}, break_: func(n *testNode) {
			n.ip("link del flannel.1")
			n.addDevice("id 1 local 198.18.0.50 dstport 8472")
		}, want: []string{"device flannel.1 wrong"}, contains: true},
		{name: "device MTU", break_: func(n *testNode) { n.ip("link set flannel.1 mtu 1400") },
			want: []string{"device flannel.1 wrong"}},
		{name: "device MTU with jumbo underlay", break_: func(n *testNode) { n.ip("link set eth0 mtu 9000") },
			want: []string{"subnet.env FLANNEL_MTU wrong", "device flannel.1 wrong"}},
		{name: "device MTU from Backend.MTU", cfg: `{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","MTU":1400}}`,
			want: []string{"subnet.env FLANNEL_MTU wrong", "device flannel.1 wrong"}},
		{name: "device down", break_: func(n *testNode) { n.ip("link set flannel.1 down") },
			want: []string{"device flannel.1 wrong"}, contains: true},
		{name: "address missing", break_: func(n *testNode) { n.ip("addr del 10.244.1.0/32 dev flannel.1") },
			// The kernel flushes the device's routes and neighbours with its last address.
			want: []string{"address flannel.1 missing", "route 10.244.2.0/24 missing"}, contains: true},
		{name: "address extra", break_: func(n *testNode) { n.ip("addr add 10.244.7.0/32 dev flannel.1") },
			want: []string{"address flannel.1 extra"}},
		{name: "VTEP MAC differs from lease", break_: func(n *testNode) { n.ip("link set flannel.1 address 0a:00:00:00:00:77") },
			// A new MAC also flushes the device's neighbour entries.
			want: []string{"lease 10.244.1.0-24 wrong", "neighbour 10.244.2.0 missing"}, contains: true},
		{name: "subnet.env subnet", break_: func(n *testNode) {
			n.writeEnv(subnetenv.Env{Networks: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
				Subnet: netip.MustParsePrefix("10.244.5.1/24"), MTU: 1450})
		}, want: []string{"subnet.env FLANNEL_SUBNET wrong"}},
		{name: "subnet.env network and MTU", break_: func(n *testNode) {
			n.writeEnv(subnetenv.Env{Networks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
				Subnet: netip.MustParsePrefix("10.244.1.1/24"), MTU: 1500})
		}, want: []string{"subnet.env FLANNEL_NETWORK wrong", "subnet.env FLANNEL_MTU wrong"}},
		{name: "subnet.env missing", break_: func(n *testNode) {
			if err := os.Remove(n.subnetFile); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"subnet.env " + "SUBNETFILE" + " missing"}},
		{name: "forwarding off", break_: func(n *testNode) { n.sysctl("net.ipv4.ip_forward=0") },
			want: []string{"sysctl net.ipv4.ip_forward wrong"}},
		{name: "own lease missing", break_: func(n *testNode) {
			if err := n.reg.DeleteLease(ctx, n.own); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"lease 198.18.0.1 missing"}},
		{name: "duplicate public IP", break_: func(n *testNode) { n.lease("10.244.20.0-24", "198.18.0.2", "", 0) },
			want: []string{"leases 198.18.0.2 duplicate"}},
		{name: "overlapping subnets", break_: func(n *testNode) { n.lease("10.244.2.0-23", "198.18.0.30", "", 0) },
			want: []string{"leases 10.244.2.0/23 10.244.2.0/24 overlap", "leases 10.244.2.0/23 10.244.3.0/24 overlap",
				"lease 10.244.2.0-23 misfit"}},
		{name: "lease outside the config", break_: func(n *testNode) { n.lease("10.245.0.0-24", "198.18.0.31", "", 0) },
			want: []string{"lease 10.245.0.0-24 misfit"}},
		{name: "unusable peer lease", break_: func(n *testNode) {
			n.rawLease("10.244.30.0-24", `{"PublicIP":"198.18.0.30","BackendType":"vxlan","BackendData":{"VNI":1}}`)
		},
			want: []string{"lease 10.244.30.0-24 rejected"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg == "" {
				cfg = vxlanConfig
			}
			n := newNode(t, e.sub(t), cfg)
			if tc.break_ != nil {
				tc.break_(n)
			}
			rep, r := n.doctor(tc.args...)
			got := summary(rep.Findings)
			want := slices.Clone(tc.want)
			for i := range want {
				want[i] = strings.ReplaceAll(want[i], "SUBNETFILE", n.subnetFile)
			}
			if rep.Healthy {
				t.Fatalf("doctor found nothing; want %v\n%s", want, r.stdout)
			}
			if tc.contains {
				for _, w := range want {
					if !slices.Contains(got, w) {
						t.Errorf("findings %v lack %q", got, w)
					}
				}
				return
			}
			slices.Sort(got)
			slices.Sort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s\nreport:\n%s", diff, r.stdout)
			}
		})
	}
}

// rawLease stores a lease value as given, with a short etcd lease.
func (e *tenv) rawLease(key, value string) {
	e.t.Helper()
	cl := e.srv.Client(e.t)
	g, err := cl.Grant(context.Background(), 3600)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := cl.Put(context.Background(), e.reg.SubnetsPrefix()+key, value, clientv3.WithLease(g.ID)); err != nil {
		e.t.Fatal(err)
	}
}
