// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/weft-net/weft/subnet"
)

const link1 = "link flannel.1 vxlan vni 1 port 8472 local 198.18.0.1 dev eth0 mtu 1450 mac 02:00:00:00:00:01 up learning false gbp false\n"

// TestStates feeds leases to a backend and compares the dataplane's
// canonical dump with the expected one, on the fake and in a namespace.
func TestStates(t *testing.T) {
	malformed := lease(5, "198.18.0.5", false)
	malformed.Attrs.BackendData = json.RawMessage(`{"VNI":1,"VtepMAC":"zz"}`)
	hostgw := lease(6, "198.18.0.6", false)
	hostgw.Attrs.BackendType = "host-gw"
	reservation := lease(4, "198.18.0.4", false)
	reservation.Attrs.BackendData, reservation.LeaseID = nil, 0
	tests := []struct {
		name  string
		cfg   subnet.BackendConfig
		dual  bool
		peers []subnet.Lease
		want  string
	}{
		{name: "no peers", want: "addr flannel.1 10.244.1.0/32\n" + link1},
		{name: "two peers", peers: []subnet.Lease{lease(2, "198.18.0.2", false), lease(3, "203.0.113.3", false)}, want: `addr flannel.1 10.244.1.0/32
fdb flannel.1 02:00:00:00:00:02 dst 198.18.0.2
fdb flannel.1 02:00:00:00:00:03 dst 203.0.113.3
` + link1 + `neigh flannel.1 10.244.2.0 lladdr 02:00:00:00:00:02
neigh flannel.1 10.244.3.0 lladdr 02:00:00:00:00:03
route 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink proto 87 metric 183763456
route 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink proto 87 metric 183763712
`},
		{name: "direct routing on the same L2 subnet", cfg: subnet.BackendConfig{DirectRouting: true},
			peers: []subnet.Lease{lease(2, "198.18.0.2", false), lease(3, "203.0.113.3", false)}, want: `addr flannel.1 10.244.1.0/32
fdb flannel.1 02:00:00:00:00:03 dst 203.0.113.3
` + link1 + `neigh flannel.1 10.244.3.0 lladdr 02:00:00:00:00:03
route 10.244.2.0/24 via 198.18.0.2 dev eth0 proto 87 metric 183763456
route 10.244.3.0/24 via 10.244.3.0 dev flannel.1 onlink proto 87 metric 183763712
`},
		{name: "skips own, reservation, malformed and non-vxlan leases",
			peers: []subnet.Lease{lease(1, "198.18.0.1", false), reservation, malformed, hostgw, lease(2, "198.18.0.2", false)},
			want: `addr flannel.1 10.244.1.0/32
fdb flannel.1 02:00:00:00:00:02 dst 198.18.0.2
` + link1 + `neigh flannel.1 10.244.2.0 lladdr 02:00:00:00:00:02
route 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink proto 87 metric 183763456
`},
		{name: "vni port gbp and mtu", cfg: subnet.BackendConfig{Type: "vxlan", VNI: 7, Port: 4789, GBP: true, MTU: 1400},
			want: "addr flannel.7 10.244.1.0/32\n" +
				"link flannel.7 vxlan vni 7 port 4789 local 198.18.0.1 dev eth0 mtu 1350 mac 02:00:00:00:00:01 up learning false gbp true\n"},
		{name: "dual stack", dual: true, peers: []subnet.Lease{lease(2, "198.18.0.2", true)}, want: `addr flannel-v6.1 fd00:10:244:1::/128
addr flannel.1 10.244.1.0/32
fdb flannel-v6.1 02:00:00:00:06:02 dst 2001:db8:18::2
fdb flannel.1 02:00:00:00:00:02 dst 198.18.0.2
link flannel-v6.1 vxlan vni 1 port 8472 local 2001:db8:18::1 dev eth0 mtu 1430 mac 02:00:00:00:06:01 up learning false gbp false
` + link1 + `neigh flannel-v6.1 fd00:10:244:2:: lladdr 02:00:00:00:06:02
neigh flannel.1 10.244.2.0 lladdr 02:00:00:00:00:02
route 10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink proto 87 metric 183763456
route fd00:10:244:2::/64 via fd00:10:244:2:: dev flannel-v6.1 onlink proto 87 metric 1024
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachEnv(t, func(t *testing.T, e *env) {
				n := startNode(t, e, tt.cfg, Options{DualStack: tt.dual}, lease(1, "198.18.0.1", tt.dual))
				n.b.SetPeers(tt.peers)
				waitSnapshot(t, e, tt.want)
				waitFor(t, "status", func() bool { return n.b.Status().Peers == strings.Count(tt.want, "\nroute 10.244.") })
			})
		})
	}
}

func TestSetupPublishesLeaseAttrs(t *testing.T) {
	e := newFakeEnv(t)
	own := lease(1, "198.18.0.1", true)
	n := startNode(t, e, subnet.BackendConfig{}, Options{DualStack: true}, own)
	want := subnet.LeaseAttrs{PublicIP: netip.MustParseAddr("198.18.0.1"), PublicIPv6: netip.MustParseAddr("2001:db8:18::1"),
		BackendType: "vxlan", BackendData: vxlanData(mac(1)), BackendV6Data: vxlanData(mac(0x601))}
	got, _ := json.Marshal(n.attrs)
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Errorf("lease attrs = %s, want %s", got, wantJSON)
	}
	if m := n.b.MTU(); m != 1430 {
		t.Errorf("dual-stack MTU = %d, want 1430 (IPv6 overhead 70)", m)
	}
}

// TestStableMAC: the existing device's MAC wins over the previous lease's,
// which wins over a random one.
func TestStableMAC(t *testing.T) {
	e := newFakeEnv(t)
	cfg := subnet.BackendConfig{Type: "vxlan", VNI: 1, Port: 8472}
	b, _ := New(cfg, e.dp, quietOpts(Options{}))
	fresh, err := b.Setup(t.Context(), e.ext, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := subnet.DecodeVXLANData(fresh.BackendData)
	if d.VtepMAC[0]&0x03 != 0x02 {
		t.Errorf("random VTEP MAC %s is not unicast and locally administered", d.VtepMAC)
	}
	prev := lease(1, "198.18.0.1", false).Attrs
	again, _ := New(cfg, e.dp, quietOpts(Options{}))
	got, err := again.Setup(t.Context(), e.ext, &prev)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.BackendData) != string(fresh.BackendData) {
		t.Errorf("re-setup published %s, want the existing device's %s", got.BackendData, fresh.BackendData)
	}
	if err := e.dp.DelLink("flannel.1"); err != nil {
		t.Fatal(err)
	}
	got, err = again.Setup(t.Context(), e.ext, &prev)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.BackendData) != string(prev.BackendData) {
		t.Errorf("setup without device published %s, want the previous lease's %s", got.BackendData, prev.BackendData)
	}
}

// manyPeers returns n peer leases in 10.244.0.0/16 and 10.245.0.0/16
// (skipping our 10.244.1.0/24), public IPs in 198.19.0.0/16.
func manyPeers(n int) []subnet.Lease {
	out := make([]subnet.Lease, 0, n)
	for i := 2; len(out) < n; i++ {
		sn := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(244 + i/256), byte(i % 256), 0}), 24)
		out = append(out, subnet.Lease{Subnet: sn, LeaseID: 1, Attrs: subnet.LeaseAttrs{
			PublicIP:    netip.AddrFrom4([4]byte{198, 19, byte(i / 256), byte(i % 256)}),
			BackendType: "vxlan", BackendData: vxlanData(mac(i)),
		}})
	}
	return out
}

// expectPeers renders the canonical dump for peers on flannel.1.
func expectPeers(peers []subnet.Lease) string {
	lines := []string{"addr flannel.1 10.244.1.0/32", strings.TrimSuffix(link1, "\n")}
	for _, p := range peers {
		d, _ := subnet.DecodeVXLANData(p.Attrs.BackendData)
		a := p.Subnet.Addr()
		lines = append(lines,
			fmt.Sprintf("fdb flannel.1 %s dst %s", d.VtepMAC, p.Attrs.PublicIP),
			fmt.Sprintf("neigh flannel.1 %s lladdr %s", a, d.VtepMAC),
			fmt.Sprintf("route %s via %s dev flannel.1 onlink proto 87 metric %d", p.Subnet, a, RouteMetric(p.Subnet)))
	}
	sortStrings(lines)
	return strings.Join(lines, "\n") + "\n"
}
