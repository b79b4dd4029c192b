// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The configs each row runs under: flannel's defaults for one family, both,
// or IPv6 only (whose keys carry the "0.0.0.0-0" placeholder).
var (
	admitCfg4 = &Config{
		EnableIPv4: true, Network: netip.MustParsePrefix("10.244.0.0/16"), SubnetLen: 24,
		Backend: BackendConfig{Type: BackendVXLAN, VNI: 1},
	}
	admitCfgDual = &Config{
		EnableIPv4: true, Network: netip.MustParsePrefix("10.244.0.0/16"), SubnetLen: 24,
		EnableIPv6: true, IPv6Network: netip.MustParsePrefix("fd00:10:244::/48"), IPv6SubnetLen: 64,
		Backend: BackendConfig{Type: BackendVXLAN, VNI: 1},
	}
	admitCfg6 = &Config{
		EnableIPv6: true, IPv6Network: netip.MustParsePrefix("fd00:10:244::/48"), IPv6SubnetLen: 64,
		Backend: BackendConfig{Type: BackendVXLAN, VNI: 1},
	}
	// admitCfgUnderlay puts Network over the underlay (198.18.0.0/16, where
	// the nodes live) so that containment passes and only stage 2 can stop a
	// subnet covering a node or an etcd endpoint.
	admitCfgUnderlay = &Config{
		EnableIPv4: true, Network: netip.MustParsePrefix("198.18.0.0/16"), SubnetLen: 24,
		Backend: BackendConfig{Type: BackendVXLAN, VNI: 1},
	}
	// admitCfgUnderlay28 is small enough that a subnet can hold the etcd
	// endpoint (198.18.0.100) without holding a node address (198.18.0.1).
	admitCfgUnderlay28 = &Config{
		EnableIPv4: true, Network: netip.MustParsePrefix("198.18.0.0/16"), SubnetLen: 28,
		Backend: BackendConfig{Type: BackendVXLAN, VNI: 1},
	}
)

// admitNode is this node as stage 2 sees it: node 1 of the cluster
// fixture (198.18.0.1, MAC aa:00:00:00:00:01) holding 10.244.1.0/24, with
// etcd on 198.18.0.100.
var admitNode = Local{
	Subnet:     netip.MustParsePrefix("10.244.1.0/24"),
	PublicIP:   netip.MustParseAddr("198.18.0.1"),
	PublicIPv6: netip.MustParseAddr("2001:db8:18::1"),
	VTEPMACs:   []MAC{mustMAC("aa:00:00:00:00:01")},
	Addrs:      []netip.Addr{netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8:18::1")},
	Endpoints:  []netip.Addr{netip.MustParseAddr("198.18.0.100")},
}

// peer returns a lease that every stage accepts under the config matching
// its key: node n (PublicIP 198.18.0.n, MAC aa:00:00:00:00:n), created
// and last modified at revision rev. mods then break what a row tests.
func peer(t testing.TB, key string, n int, rev int64, mods ...func(*Lease)) Lease {
	t.Helper()
	sn, sn6, err := ParseSubnetKey(key)
	if err != nil {
		t.Fatal(err)
	}
	data := fmt.Appendf(nil, `{"VNI":1,"VtepMAC":"aa:00:00:00:00:%02x"}`, n)
	l := Lease{
		Subnet: sn, IPv6Subnet: sn6, LeaseID: 0x7000 + int64(n), ModRevision: rev, CreateRevision: rev,
		Attrs: LeaseAttrs{PublicIP: netip.MustParseAddr(fmt.Sprintf("198.18.0.%d", n)), BackendType: BackendVXLAN},
	}
	if sn.IsValid() || !sn6.IsValid() {
		l.Attrs.BackendData = data
	}
	if sn6.IsValid() {
		l.Attrs.PublicIPv6 = netip.MustParseAddr(fmt.Sprintf("2001:db8:18::%x", n))
		l.Attrs.BackendV6Data = data
	}
	for _, m := range mods {
		m(&l)
	}
	return l
}

// rejected is a rejection as a row expects it: the key, the exact reason,
// and the values the detail must name.
type rejected struct {
	Key    string
	Reason Reason
	Names  []string // ignored by cmp: checked with strings.Contains
}

func TestAdmit(t *testing.T) {
	withAttrs := func(f func(*LeaseAttrs)) func(*Lease) { return func(l *Lease) { f(&l.Attrs) } }
	withData := func(s string) func(*Lease) {
		return withAttrs(func(a *LeaseAttrs) { a.BackendData = []byte(s) })
	}
	route := func(dst, gw string) Route {
		r := Route{Dst: netip.MustParsePrefix(dst)}
		if gw != "" {
			r.Gw = netip.MustParseAddr(gw)
		}
		return r
	}
	local := func(f func(*Local)) Local {
		l := admitNode
		f(&l)
		return l
	}
	tests := []struct {
		name         string
		cfg          *Config
		local        Local
		leases       func(t *testing.T) []Lease
		wantAdmitted []string
		wantRejected []rejected
	}{
		// Stage 1: the lease alone against the config.
		{
			name: "outside Network", cfg: admitCfg4,
			leases:       func(t *testing.T) []Lease { return []Lease{peer(t, "10.99.0.0-24", 2, 10)} },
			wantRejected: []rejected{{"10.99.0.0-24", ReasonOutsideNetwork, []string{"10.99.0.0/24", "10.244.0.0/16"}}},
		},
		{
			// The key that took a cluster down in issue 11: a /24 of the
			// underlay, which every node would route into the tunnel.
			name: "outside Network over the underlay", cfg: admitCfg4,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "198.18.0.0-24", 2, 10, withAttrs(func(a *LeaseAttrs) {
					a.PublicIP = netip.MustParseAddr("198.19.0.11")
				}))}
			},
			wantRejected: []rejected{{"198.18.0.0-24", ReasonOutsideNetwork, []string{"198.18.0.0/24"}}},
		},
		{
			// A lone "0.0.0.0-0" (no "&") is the prefix 0.0.0.0/0, a
			// supernet of everything: it must never be programmed.
			name: "0.0.0.0/0 outside Network", cfg: admitCfg4,
			leases:       func(t *testing.T) []Lease { return []Lease{peer(t, "0.0.0.0-0", 2, 10)} },
			wantRejected: []rejected{{"0.0.0.0-0", ReasonOutsideNetwork, []string{"0.0.0.0/0"}}},
		},
		{
			name: "supernet of Network is outside it", cfg: admitCfg4,
			leases:       func(t *testing.T) []Lease { return []Lease{peer(t, "10.244.0.0-15", 2, 10)} },
			wantRejected: []rejected{{"10.244.0.0-15", ReasonOutsideNetwork, []string{"10.244.0.0/15"}}},
		},
		{
			name: "IPv6 subnet outside IPv6Network", cfg: admitCfgDual,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24&fd00:99::-64", 2, 10)}
			},
			wantRejected: []rejected{{"10.244.2.0-24&fd00:99::-64", ReasonOutsideNetwork, []string{"fd00:99::/64", "IPv6Network"}}},
		},
		{
			name: "a /25 with SubnetLen 24", cfg: admitCfg4,
			leases:       func(t *testing.T) []Lease { return []Lease{peer(t, "10.244.83.0-25", 2, 10)} },
			wantRejected: []rejected{{"10.244.83.0-25", ReasonSubnetLen, []string{"10.244.83.0/25", "SubnetLen"}}},
		},
		{
			name: "a /23 with SubnetLen 24", cfg: admitCfg4,
			leases:       func(t *testing.T) []Lease { return []Lease{peer(t, "10.244.82.0-23", 2, 10)} },
			wantRejected: []rejected{{"10.244.82.0-23", ReasonSubnetLen, []string{"10.244.82.0/23"}}},
		},
		{
			name: "IPv6 /80 with IPv6SubnetLen 64", cfg: admitCfgDual,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24&fd00:10:244:2::-80", 2, 10)}
			},
			wantRejected: []rejected{{"10.244.2.0-24&fd00:10:244:2::-80", ReasonSubnetLen, []string{"fd00:10:244:2::/80", "IPv6SubnetLen"}}},
		},
		{
			name: "dual-stack network, IPv4-only lease", cfg: admitCfgDual,
			leases:       func(t *testing.T) []Lease { return []Lease{peer(t, "10.244.2.0-24", 2, 10)} },
			wantRejected: []rejected{{"10.244.2.0-24", ReasonFamily, []string{"no IPv6 subnet"}}},
		},
		{
			name: "dual-stack network, IPv6-only lease", cfg: admitCfgDual,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "0.0.0.0-0&fd00:10:244:2::-64", 2, 10)}
			},
			wantRejected: []rejected{{"0.0.0.0-0&fd00:10:244:2::-64", ReasonFamily, []string{"no IPv4 subnet"}}},
		},
		{
			// The placeholder means "no IPv4": the lease is judged on its
			// IPv6 subnet alone.
			name: "IPv6-only network, placeholder key admitted", cfg: admitCfg6,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "0.0.0.0-0&fd00:10:244:5::-64", 5, 10)}
			},
			wantAdmitted: []string{"0.0.0.0-0&fd00:10:244:5::-64"},
		},
		{
			name: "IPv6-only network, real IPv4 subnet", cfg: admitCfg6,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.5.0-24&fd00:10:244:5::-64", 5, 10)}
			},
			wantRejected: []rejected{{"10.244.5.0-24&fd00:10:244:5::-64", ReasonFamily, []string{"10.244.5.0/24", "IPv6-only"}}},
		},
		{
			name: "BackendType", cfg: admitCfg4,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24", 2, 10, withAttrs(func(a *LeaseAttrs) { a.BackendType = "host-gw" }))}
			},
			wantRejected: []rejected{{"10.244.2.0-24", ReasonBackendType, []string{`"host-gw"`}}},
		},
		{
			name: "BackendData without VtepMAC", cfg: admitCfg4,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24", 2, 10, withData(`{"VNI":1}`))}
			},
			wantRejected: []rejected{{"10.244.2.0-24", ReasonBackendData, []string{"BackendData", "VtepMAC"}}},
		},
		{
			name: "BackendData of the wrong type", cfg: admitCfg4,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24", 2, 10, withData(`{"VNI":"one"}`))}
			},
			wantRejected: []rejected{{"10.244.2.0-24", ReasonBackendData, []string{"BackendData", `"one"`}}},
		},
		{
			name: "BackendData not JSON", cfg: admitCfg4,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24", 2, 10, withData(`{"VNI":`))}
			},
			wantRejected: []rejected{{"10.244.2.0-24", ReasonBackendData, []string{`BackendData {"VNI":`}}},
		},
		{
			// Not a reservation (it has an etcd lease): a live node that
			// wrote no data is nothing we can program.
			name: "BackendData missing on a live lease", cfg: admitCfg4,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24", 2, 10, withAttrs(func(a *LeaseAttrs) { a.BackendData = nil }))}
			},
			wantRejected: []rejected{{"10.244.2.0-24", ReasonBackendData, []string{"BackendData missing"}}},
		},
		{
			name: "PublicIP missing", cfg: admitCfg4,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24", 2, 10, withAttrs(func(a *LeaseAttrs) { a.PublicIP = netip.Addr{} }))}
			},
			wantRejected: []rejected{{"10.244.2.0-24", ReasonBackendData, []string{"PublicIP missing"}}},
		},
		{
			name: "BackendV6Data garbage in dual stack", cfg: admitCfgDual,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24&fd00:10:244:2::-64", 2, 10, withAttrs(func(a *LeaseAttrs) {
					a.BackendV6Data = []byte(`{"VtepMAC":"nope"}`)
				}))}
			},
			wantRejected: []rejected{{"10.244.2.0-24&fd00:10:244:2::-64", ReasonBackendData, []string{"BackendV6Data", "nope"}}},
		},
		{
			name: "PublicIPv6 missing in dual stack", cfg: admitCfgDual,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24&fd00:10:244:2::-64", 2, 10, withAttrs(func(a *LeaseAttrs) {
					a.PublicIPv6 = netip.Addr{}
				}))}
			},
			wantRejected: []rejected{{"10.244.2.0-24&fd00:10:244:2::-64", ReasonBackendData, []string{"PublicIPv6 missing"}}},
		},
		{
			name: "VNI", cfg: admitCfg4,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24", 2, 10, withData(`{"VNI":2,"VtepMAC":"aa:00:00:00:00:02"}`))}
			},
			wantRejected: []rejected{{"10.244.2.0-24", ReasonVNI, []string{"VNI 2"}}},
		},
		{
			// A reservation is judged like any lease once it carries data.
			name: "reservation with data and the wrong VNI", cfg: admitCfg4,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24", 2, 10, withData(`{"VNI":2,"VtepMAC":"aa:00:00:00:00:02"}`),
					func(l *Lease) { l.LeaseID = 0 })}
			},
			wantRejected: []rejected{{"10.244.2.0-24", ReasonVNI, []string{"VNI 2"}}},
		},

		// Stage 1: duplicates.
		{
			name: "same IPv4 subnet, two keys: lower CreateRevision wins", cfg: admitCfg4,
			leases: func(t *testing.T) []Lease {
				return []Lease{
					peer(t, "10.244.3.0-24", 3, 20),
					peer(t, "10.244.3.0-24&fd00:10:244:3::-64", 4, 10),
				}
			},
			wantAdmitted: []string{"10.244.3.0-24&fd00:10:244:3::-64"},
			wantRejected: []rejected{{"10.244.3.0-24", ReasonDuplicate, []string{"10.244.3.0-24&fd00:10:244:3::-64"}}},
		},
		{
			name: "same IPv4 subnet, same CreateRevision: key order wins", cfg: admitCfg4,
			leases: func(t *testing.T) []Lease {
				return []Lease{
					peer(t, "10.244.3.0-24&fd00:10:244:3::-64", 4, 10),
					peer(t, "10.244.3.0-24", 3, 10),
				}
			},
			wantAdmitted: []string{"10.244.3.0-24"},
			wantRejected: []rejected{{"10.244.3.0-24&fd00:10:244:3::-64", ReasonDuplicate, []string{"10.244.3.0-24"}}},
		},
		{
			// Its IPv4 subnet is free, but half a dual-stack peer would
			// send IPv6 traffic to the wrong node.
			name: "dual-stack lease losing its IPv6 half loses whole", cfg: admitCfgDual,
			leases: func(t *testing.T) []Lease {
				return []Lease{
					peer(t, "10.244.2.0-24&fd00:10:244:9::-64", 2, 10),
					peer(t, "10.244.3.0-24&fd00:10:244:9::-64", 3, 20),
				}
			},
			wantAdmitted: []string{"10.244.2.0-24&fd00:10:244:9::-64"},
			wantRejected: []rejected{{"10.244.3.0-24&fd00:10:244:9::-64", ReasonDuplicate, []string{"10.244.2.0-24&fd00:10:244:9::-64"}}},
		},
		{
			// B loses to A, so B holds nothing: C, sharing a subnet only
			// with B, is not a duplicate of anyone.
			name: "chain A<B<C: a loser does not block", cfg: admitCfgDual,
			leases: func(t *testing.T) []Lease {
				return []Lease{
					peer(t, "10.244.2.0-24&fd00:10:244:2::-64", 2, 10), // A
					peer(t, "10.244.3.0-24&fd00:10:244:2::-64", 3, 20), // B
					peer(t, "10.244.3.0-24&fd00:10:244:3::-64", 4, 30), // C
				}
			},
			wantAdmitted: []string{"10.244.2.0-24&fd00:10:244:2::-64", "10.244.3.0-24&fd00:10:244:3::-64"},
			wantRejected: []rejected{{"10.244.3.0-24&fd00:10:244:2::-64", ReasonDuplicate, []string{"10.244.2.0-24&fd00:10:244:2::-64"}}},
		},
		{
			// On our node our lease wins even against an older key: we
			// never route our own subnet away.
			name: "own lease never loses on our node", cfg: admitCfg4, local: admitNode,
			leases: func(t *testing.T) []Lease {
				return []Lease{
					peer(t, "10.244.1.0-24", 1, 50),
					peer(t, "10.244.1.0-24&fd00:10:244:1::-64", 7, 10),
				}
			},
			wantRejected: []rejected{{"10.244.1.0-24&fd00:10:244:1::-64", ReasonDuplicate, []string{"10.244.1.0-24"}}},
		},

		// Stage 2: safety on this node.
		{
			name: "another subnet with our PublicIP", cfg: admitCfg4, local: admitNode,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24", 2, 10, withAttrs(func(a *LeaseAttrs) {
					a.PublicIP = netip.MustParseAddr("198.18.0.1")
				}))}
			},
			wantRejected: []rejected{{"10.244.2.0-24", ReasonOwnAddress, []string{"198.18.0.1"}}},
		},
		{
			name: "another subnet with our PublicIPv6", cfg: admitCfgDual, local: admitNode,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24&fd00:10:244:2::-64", 2, 10, withAttrs(func(a *LeaseAttrs) {
					a.PublicIPv6 = netip.MustParseAddr("2001:db8:18::1")
				}))}
			},
			wantRejected: []rejected{{"10.244.2.0-24&fd00:10:244:2::-64", ReasonOwnAddress, []string{"2001:db8:18::1"}}},
		},
		{
			name: "another subnet with our VTEP MAC", cfg: admitCfg4, local: admitNode,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24", 2, 10, withData(`{"VNI":1,"VtepMAC":"aa:00:00:00:00:01"}`))}
			},
			wantRejected: []rejected{{"10.244.2.0-24", ReasonOwnAddress, []string{"aa:00:00:00:00:01"}}},
		},
		{
			name: "subnet covers a node address", cfg: admitCfgUnderlay, local: admitNode,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "198.18.0.0-24", 2, 10, withAttrs(func(a *LeaseAttrs) {
					a.PublicIP = netip.MustParseAddr("198.19.0.11")
				}))}
			},
			wantRejected: []rejected{{"198.18.0.0-24", ReasonNodeAddress, []string{"198.18.0.0/24", "198.18.0.1"}}},
		},
		{
			name: "subnet covers an etcd endpoint", cfg: admitCfgUnderlay28, local: admitNode,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "198.18.0.96-28", 2, 10, withAttrs(func(a *LeaseAttrs) {
					a.PublicIP = netip.MustParseAddr("198.19.0.11")
				}))}
			},
			wantRejected: []rejected{{"198.18.0.96-28", ReasonEtcdEndpoint, []string{"198.18.0.96/28", "198.18.0.100"}}},
		},
		{
			name: "subnet overlaps a foreign route", cfg: admitCfg4,
			local: local(func(l *Local) { l.Routes = []Route{route("10.244.2.128/25", "198.18.0.254")} }),
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24", 2, 10), peer(t, "10.244.3.0-24", 3, 11)}
			},
			wantAdmitted: []string{"10.244.3.0-24"},
			wantRejected: []rejected{{"10.244.2.0-24", ReasonRoute, []string{"10.244.2.0/24", "10.244.2.128/25", "198.18.0.254"}}},
		},
		{
			name: "subnet inside a foreign route without gateway", cfg: admitCfg4,
			local: local(func(l *Local) { l.Routes = []Route{route("10.244.0.0/20", "")} }),
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24", 2, 10), peer(t, "10.244.16.0-24", 3, 11)}
			},
			wantAdmitted: []string{"10.244.16.0-24"},
			wantRejected: []rejected{{"10.244.2.0-24", ReasonRoute, []string{"10.244.0.0/20"}}},
		},
		{
			name: "default routes never count", cfg: admitCfgDual,
			local: local(func(l *Local) {
				l.Routes = []Route{route("0.0.0.0/0", "198.18.0.254"), route("::/0", "fe80::1")}
			}),
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24&fd00:10:244:2::-64", 2, 10)}
			},
			wantAdmitted: []string{"10.244.2.0-24&fd00:10:244:2::-64"},
		},
		{
			// flanneld with DirectRouting left "subnet via PublicIP": the
			// peer's own route, not a stranger's.
			name: "flanneld DirectRouting leftover does not count", cfg: admitCfgDual,
			local: local(func(l *Local) {
				l.Routes = []Route{route("10.244.2.0/24", "198.18.0.2"), route("fd00:10:244:2::/64", "2001:db8:18::2")}
			}),
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24&fd00:10:244:2::-64", 2, 10)}
			},
			wantAdmitted: []string{"10.244.2.0-24&fd00:10:244:2::-64"},
		},
		{
			name: "same destination via another gateway counts", cfg: admitCfg4,
			local: local(func(l *Local) { l.Routes = []Route{route("10.244.2.0/24", "198.18.0.3")} }),
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24", 2, 10)}
			},
			wantRejected: []rejected{{"10.244.2.0-24", ReasonRoute, []string{"10.244.2.0/24", "198.18.0.3"}}},
		},
		{
			// compat.md: a reservation claims its subnet before its node
			// writes data; it is nothing to program and nothing to warn of.
			name: "pending reservation admitted quietly", cfg: admitCfg4, local: admitNode,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.2.0-24", 2, 10, func(l *Lease) {
					l.LeaseID = 0
					l.Attrs.BackendType, l.Attrs.BackendData = "", nil
				})}
			},
			wantAdmitted: []string{"10.244.2.0-24"},
		},
		{
			name: "own lease in neither list", cfg: admitCfg4, local: admitNode,
			leases: func(t *testing.T) []Lease {
				return []Lease{peer(t, "10.244.1.0-24", 1, 10), peer(t, "10.244.2.0-24", 2, 11)}
			},
			wantAdmitted: []string{"10.244.2.0-24"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leases := tt.leases(t)
			got := Admit(tt.cfg, tt.local, leases)
			checkAdmission(t, got, leases, tt.wantAdmitted, tt.wantRejected)
		})
	}
}

// checkAdmission compares an Admission with the admitted keys (their leases
// unchanged from the input) and the rejections expected, in key order.
func checkAdmission(t *testing.T, got Admission, leases []Lease, wantAdmitted []string, wantRejected []rejected) {
	t.Helper()
	byKey := map[string]Lease{}
	for _, l := range leases {
		byKey[l.Key()] = l
	}
	var want []Lease
	for _, k := range wantAdmitted {
		want = append(want, byKey[k])
	}
	if diff := cmp.Diff(want, got.Admitted, leaseCmp); diff != "" {
		t.Errorf("Admitted (-want +got):\n%s", diff)
	}
	var gotRej []rejected
	for _, r := range got.Rejected {
		gotRej = append(gotRej, rejected{Key: r.Lease.Key(), Reason: r.Reason})
		if diff := cmp.Diff(byKey[r.Lease.Key()], r.Lease, leaseCmp); diff != "" {
			t.Errorf("rejection of %s carries another lease (-input +rejected):\n%s", r.Lease.Key(), diff)
		}
	}
	if diff := cmp.Diff(wantRejected, gotRej, cmpopts.IgnoreFields(rejected{}, "Names")); diff != "" {
		t.Errorf("Rejected (-want +got):\n%s", diff)
	}
	for _, w := range wantRejected {
		for _, r := range got.Rejected {
			if r.Lease.Key() != w.Key {
				continue
			}
			for _, name := range w.Names {
				if !strings.Contains(r.Detail, name) {
					t.Errorf("%s: detail %q does not name %q", w.Key, r.Detail, name)
				}
			}
		}
	}
}

// TestAdmitStage2NeverPromotes: stage 2 is local, so what it drops must not
// change stage 1's winners, or nodes would disagree on who holds a subnet.
func TestAdmitStage2NeverPromotes(t *testing.T) {
	leases := []Lease{
		peer(t, "10.244.3.0-24", 3, 10, func(l *Lease) { l.Attrs.PublicIP = admitNode.PublicIP }),
		peer(t, "10.244.3.0-24&fd00:10:244:3::-64", 4, 20),
	}
	got := Admit(admitCfg4, admitNode, leases)
	checkAdmission(t, got, leases, nil, []rejected{
		{"10.244.3.0-24", ReasonOwnAddress, []string{"198.18.0.1"}},
		{"10.244.3.0-24&fd00:10:244:3::-64", ReasonDuplicate, []string{"10.244.3.0-24"}},
	})
}

// TestSubnetKeyIPv6Only: flannel's IPv6-only keys carry "0.0.0.0-0" for
// "no IPv4"; reading it as 0.0.0.0/0 would route everything to one peer.
func TestSubnetKeyIPv6Only(t *testing.T) {
	const key = "0.0.0.0-0&fd00:10:244:5::-64"
	sn, sn6, err := ParseSubnetKey(key)
	if err != nil {
		t.Fatalf("ParseSubnetKey(%q): %v", key, err)
	}
	if sn.IsValid() {
		t.Errorf("ParseSubnetKey(%q) IPv4 = %v, want an invalid prefix", key, sn)
	}
	if want := netip.MustParsePrefix("fd00:10:244:5::/64"); sn6 != want {
		t.Errorf("ParseSubnetKey(%q) IPv6 = %v, want %v", key, sn6, want)
	}
	if got := SubnetKey(sn, sn6); got != key {
		t.Errorf("SubnetKey(%v, %v) = %q, want %q", sn, sn6, got, key)
	}
}

// TestAdmitterApply checks the deltas a watcher acts on: the backend's
// events, and the rejections logged once per key and change.
func TestAdmitterApply(t *testing.T) {
	winner := peer(t, "10.244.3.0-24", 3, 10)
	loser := peer(t, "10.244.3.0-24&fd00:10:244:3::-64", 4, 20)
	stray := peer(t, "10.99.0.0-24", 9, 30)
	a := NewAdmitter(admitCfg4, admitNode)
	d := a.Reset([]Lease{winner, loser})
	checkDelta(t, "Reset", d,
		[]Event{{Type: EventAdded, Lease: winner}},
		[]rejected{{loser.Key(), ReasonDuplicate, []string{winner.Key()}}})

	// The winner leaves: the loser, kept with its rejected value, takes over.
	d = a.Apply([]Event{RemovedEvent(winner)})
	checkDelta(t, "winner deleted", d,
		[]Event{RemovedEvent(winner), {Type: EventAdded, Lease: loser}}, nil)

	// Back, the old winner is now the newer key (etcd gives a re-created
	// key a new CreateRevision) and loses.
	back := peer(t, winner.Key(), 3, 40)
	d = a.Apply([]Event{{Type: EventAdded, Lease: back}})
	checkDelta(t, "winner re-created", d, nil,
		[]rejected{{back.Key(), ReasonDuplicate, []string{loser.Key()}}})
	d = a.Apply([]Event{{Type: EventAdded, Lease: back}})
	checkDelta(t, "same value again", d, nil, nil)

	d = a.Apply([]Event{{Type: EventAdded, Lease: stray}})
	checkDelta(t, "stray key", d, nil,
		[]rejected{{stray.Key(), ReasonOutsideNetwork, []string{"10.99.0.0/24"}}})
	d = a.Apply([]Event{{Type: EventAdded, Lease: stray}})
	checkDelta(t, "stray key, same value again", d, nil, nil)

	// A changed value is a change to log, even with the same reason.
	stray2 := stray
	stray2.ModRevision = 50
	stray2.Attrs.BackendData = []byte(`{"VNI":1,"VtepMAC":"aa:00:00:00:00:0a"}`)
	d = a.Apply([]Event{{Type: EventAdded, Lease: stray2}})
	checkDelta(t, "stray key, changed value", d, nil,
		[]rejected{{stray.Key(), ReasonOutsideNetwork, []string{"10.99.0.0/24"}}})

	// The same lease twice in one batch is one change.
	stray3 := stray2
	stray3.ModRevision = 60
	stray3.Attrs.PublicIP = netip.MustParseAddr("198.18.0.10")
	d = a.Apply([]Event{{Type: EventAdded, Lease: stray3}, {Type: EventAdded, Lease: stray3}})
	checkDelta(t, "stray key, changed twice in a batch", d, nil,
		[]rejected{{stray.Key(), ReasonOutsideNetwork, []string{"10.99.0.0/24"}}})

	want := Admit(admitCfg4, admitNode, []Lease{loser, back, stray3})
	if diff := cmp.Diff(want, a.Result(), leaseCmp); diff != "" {
		t.Errorf("Admitter differs from Admit (-Admit +Admitter):\n%s", diff)
	}
}

func checkDelta(t *testing.T, step string, d Delta, wantEvents []Event, wantRejected []rejected) {
	t.Helper()
	if diff := cmp.Diff(wantEvents, d.Events, leaseCmp); diff != "" {
		t.Errorf("%s: Events (-want +got):\n%s", step, diff)
	}
	var leases []Lease
	for _, r := range d.Rejected {
		leases = append(leases, r.Lease)
	}
	t.Run(step, func(t *testing.T) {
		checkAdmission(t, Admission{Rejected: d.Rejected}, leases, nil, wantRejected)
	})
}

// TestAdmitOwnLeaseHoldsItsSubnetWhenRewritten: our own key, rewritten with
// a value stage 1 rejects (here a foreign VNI), still holds our subnet on
// this node: an older stranger's key for it is a duplicate, never a peer,
// and our key is in neither list.
func TestAdmitOwnLeaseHoldsItsSubnetWhenRewritten(t *testing.T) {
	cfg := &Config{EnableIPv4: true, Network: netip.MustParsePrefix("10.244.0.0/16"), SubnetLen: 24,
		Backend: BackendConfig{Type: BackendVXLAN, VNI: 1}}
	local := Local{Subnet: netip.MustParsePrefix("10.244.1.0/24"), PublicIP: netip.MustParseAddr("198.18.0.1")}
	own := Lease{Subnet: netip.MustParsePrefix("10.244.1.0/24"), LeaseID: 1, ModRevision: 50, CreateRevision: 50,
		Attrs: LeaseAttrs{PublicIP: netip.MustParseAddr("198.18.0.1"), BackendType: "vxlan",
			BackendData: []byte(`{"VNI":2,"VtepMAC":"aa:00:00:00:00:01"}`)}}
	other := Lease{Subnet: netip.MustParsePrefix("10.244.1.0/24"), IPv6Subnet: netip.MustParsePrefix("fd00:10:244:1::/64"),
		LeaseID: 7, ModRevision: 10, CreateRevision: 10,
		Attrs: LeaseAttrs{PublicIP: netip.MustParseAddr("198.18.0.7"), BackendType: "vxlan",
			BackendData: []byte(`{"VNI":1,"VtepMAC":"aa:00:00:00:00:07"}`)}}
	got := Admit(cfg, local, []Lease{own, other})
	if len(got.Admitted) != 0 {
		t.Errorf("admitted %v, want nothing", got.Admitted)
	}
	if len(got.Rejected) != 1 || got.Rejected[0].Lease.Key() != other.Key() || got.Rejected[0].Reason != ReasonDuplicate ||
		!strings.Contains(got.Rejected[0].Detail, "own key") {
		t.Errorf("rejected %+v, want only %s as a duplicate of our own key", got.Rejected, other.Key())
	}
}

// TestLocalOf: a dual-stack lease gives its key, both public addresses and
// the VTEP MAC of each family's backend data; undecodable data gives none.
func TestLocalOf(t *testing.T) {
	own := Lease{Subnet: netip.MustParsePrefix("10.244.1.0/24"), IPv6Subnet: netip.MustParsePrefix("2001:db8:1::/64"),
		Attrs: LeaseAttrs{PublicIP: netip.MustParseAddr("198.18.0.1"), PublicIPv6: netip.MustParseAddr("2001:db8:18::1"),
			BackendData:   []byte(`{"VNI":1,"VtepMAC":"aa:00:00:00:00:01"}`),
			BackendV6Data: []byte(`{"VNI":1,"VtepMAC":"aa:00:00:00:00:02"}`)}}
	l := LocalOf(own)
	if l.Subnet != own.Subnet || l.IPv6Subnet != own.IPv6Subnet || l.PublicIP != own.Attrs.PublicIP || l.PublicIPv6 != own.Attrs.PublicIPv6 {
		t.Errorf("LocalOf identity = %+v", l)
	}
	if len(l.VTEPMACs) != 2 || l.VTEPMACs[0].String() != "aa:00:00:00:00:01" || l.VTEPMACs[1].String() != "aa:00:00:00:00:02" {
		t.Errorf("VTEPMACs = %v, want both families' MACs", l.VTEPMACs)
	}
	own.Attrs.BackendData, own.Attrs.BackendV6Data = []byte("not json"), nil
	if l := LocalOf(own); len(l.VTEPMACs) != 0 {
		t.Errorf("VTEPMACs from undecodable data = %v, want none", l.VTEPMACs)
	}
}
