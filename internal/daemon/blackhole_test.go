// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/nstest"
	"github.com/weft-net/weft/internal/poll"
	"github.com/weft-net/weft/internal/version"
	"github.com/weft-net/weft/subnet/subnetenv"
)

const dualStackConf = `{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}`

// hasBlackhole reports whether ip route's output shows weftd's blackhole
// route for sn (IPv6 puts "dev lo" in the middle).
func hasBlackhole(out string, sn netip.Prefix) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "blackhole "+sn.String()+" ") &&
			strings.Contains(l, fmt.Sprintf(" proto 87 metric %d", uint32(blackholeMetric))) {
			return true
		}
	}
	return false
}

func (n *testNode) blackholes(fam string) string {
	out, _ := n.ns.Run("ip", fam, "route", "show", "table", "main", "type", "blackhole")
	return out
}

// routeVia is the first line of `ip route get fibmatch dst` in the node:
// the route the kernel picks for dst.
func (n *testNode) routeVia(dst netip.Addr) string {
	out, err := n.ns.Run("ip", "route", "get", "fibmatch", dst.String())
	if err != nil {
		return "error: " + strings.TrimSpace(out)
	}
	return strings.SplitN(out, "\n", 2)[0]
}

// metric reads one series (name with its labels, as exposed) from /metrics.
func (n *testNode) metric(series string) (float64, bool) {
	_, body := n.get("/metrics")
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// TestBlackholeRoute runs weftd with --ip-blackhole-route on a dual-stack
// node that has a default route and a pod bridge: traffic to an address
// of its subnet that no pod holds is dropped instead of leaving by the
// default route, while the bridge's own route keeps winning; the routes
// come back when deleted, stay over a plain restart, and go on release,
// or at the next start without the flag. Other blackhole routes are never
// touched.
func TestBlackholeRoute(t *testing.T) {
	nstest.RequireRoot(t)
	e := startEtcd(t, dualStackConf)
	ul := newUnderlay(t)
	ns, ip := ul.attach(1)
	ns.MustRun(t, "ip", "-6", "addr", "add", "2001:db8:18::1/64", "dev", "eth0", "nodad")
	// Without the blackhole, a packet to a pod address this node does not
	// hold would leave by these.
	ns.MustRun(t, "ip", "route", "add", "default", "via", "198.18.0.254", "dev", "eth0")
	ns.MustRun(t, "ip", "-6", "route", "add", "default", "via", "2001:db8:18::fe", "dev", "eth0")
	// Someone else's blackhole route, which weftd must leave alone.
	ns.MustRun(t, "ip", "route", "add", "blackhole", "192.0.2.0/24")

	n := newNode(t, e, ns, ip)
	if got := n.routeVia(netip.MustParseAddr("10.244.1.5")); !strings.Contains(got, "default via 198.18.0.254") {
		t.Fatalf("before weftd, a pod address leaves by %q, want the default route", got)
	}
	n.opts.BlackholeRoute = true
	n.start()
	env, err := subnetenv.Read(n.opts.SubnetFile)
	if err != nil {
		t.Fatal(err)
	}
	sn4, sn6 := env.Subnet.Masked(), env.IPv6Subnet.Masked()
	if !sn6.IsValid() {
		t.Fatalf("no IPv6 subnet in %+v", env)
	}
	poll.Until(t, 10*time.Second, "both blackhole routes", func() (bool, string) {
		v4, v6 := n.blackholes("-4"), n.blackholes("-6")
		return hasBlackhole(v4, sn4) && hasBlackhole(v6, sn6), v4 + v6
	})

	unheld4 := sn4.Addr().Next().Next().Next().Next().Next() // .5: no pod there
	unheld6 := sn6.Addr().Next().Next().Next().Next().Next()
	// A lookup that ends in a blackhole route fails with EINVAL, which
	// is also what a local sender gets.
	for _, dst := range []netip.Addr{unheld4, unheld6} {
		if got := n.routeVia(dst); got != "error: RTNETLINK answers: Invalid argument" {
			t.Errorf("ip route get %s: %q, want the blackhole's EINVAL instead of the default route", dst, got)
		}
	}

	t.Run("a pod bridge's route wins over the blackhole", func(t *testing.T) {
		gw := sn4.Addr().Next()
		ns.MustRun(t, "ip", "link", "add", "cni0", "type", "bridge")
		ns.MustRun(t, "ip", "addr", "add", netip.PrefixFrom(gw, sn4.Bits()).String(), "dev", "cni0")
		ns.MustRun(t, "ip", "link", "set", "cni0", "up")
		if got := n.routeVia(unheld4); !strings.Contains(got, "dev cni0") {
			t.Errorf("ip route get %s with cni0 up: %q, want dev cni0", unheld4, got)
		}
		if v4 := n.blackholes("-4"); !hasBlackhole(v4, sn4) {
			t.Errorf("blackhole route gone next to the bridge route:\n%s", v4)
		}
		ns.MustRun(t, "ip", "link", "del", "cni0")
	})

	t.Run("deleted by hand, put back and counted", func(t *testing.T) {
		ns.MustRun(t, "ip", "route", "del", "blackhole", sn4.String(), "metric", fmt.Sprint(uint32(blackholeMetric)))
		ns.MustRun(t, "ip", "-6", "route", "del", "blackhole", sn6.String(), "metric", fmt.Sprint(uint32(blackholeMetric)))
		poll.Until(t, 15*time.Second, "blackhole routes back", func() (bool, string) {
			v4, v6 := n.blackholes("-4"), n.blackholes("-6")
			return hasBlackhole(v4, sn4) && hasBlackhole(v6, sn6), v4 + v6
		})
		poll.Until(t, 5*time.Second, "two repairs counted", func() (bool, string) {
			v, _ := n.metric(`weft_node_repairs_total{what="blackhole-route"}`)
			return v == 2, fmt.Sprint(v)
		})
	})

	t.Run("a plain restart keeps them", func(t *testing.T) {
		n.stop()
		if v4 := n.blackholes("-4"); !hasBlackhole(v4, sn4) {
			t.Errorf("blackhole route gone after a plain stop:\n%s", v4)
		}
		n.start()
	})

	t.Run("release removes them", func(t *testing.T) {
		n.stop()
		n.opts.ReleaseOnExit = true
		n.start()
		n.stop()
		v4, v6 := n.blackholes("-4"), n.blackholes("-6")
		if strings.Contains(v4, "proto 87") || strings.Contains(v6, "proto 87") {
			t.Errorf("weft's blackhole routes left after release:\n%s%s", v4, v6)
		}
		if !strings.Contains(v4, "blackhole 192.0.2.0/24") {
			t.Errorf("someone else's blackhole route was removed:\n%s", v4)
		}
	})

	t.Run("a start without the flag removes a leftover", func(t *testing.T) {
		n.opts.ReleaseOnExit = false
		n.start()
		n.stop() // leaves the routes, as above
		if !hasBlackhole(n.blackholes("-4"), n.subnet()) {
			t.Fatal("no route left to clean up")
		}
		n.opts.BlackholeRoute = false
		n.start()
		poll.Until(t, 10*time.Second, "leftover blackhole routes removed", func() (bool, string) {
			v4, v6 := n.blackholes("-4"), n.blackholes("-6")
			return !strings.Contains(v4, "proto 87") && !strings.Contains(v6, "proto 87") &&
				strings.Contains(v4, "blackhole 192.0.2.0/24"), v4 + v6
		})
	})
}

// TestMetricsBuildInfoAndPeersDesired reads /metrics: weft_build_info
// carries this build's version text, and weft_peers_desired counts the
// admitted peers only, beside weft_peers_programmed: a reservation
// without backend data and a rejected lease do not count.
func TestMetricsBuildInfoAndPeersDesired(t *testing.T) {
	nstest.RequireRoot(t)
	e := startEtcd(t, netConf)
	ul := newUnderlay(t)
	ns, ip := ul.attach(1)
	n := newNode(t, e, ns, ip)
	n.start()

	v := version.Get()
	series := fmt.Sprintf(`weft_build_info{commit=%q,goversion=%q,version=%q}`, v.Commit, v.GoVersion, v.Version)
	if got, ok := n.metric(series); !ok || got != 1 {
		t.Errorf("%s = %v (found %t), want 1", series, got, ok)
	}
	if _, ok := n.metric("weft_netlink_dump_interruptions_total"); !ok {
		t.Error("weft_netlink_dump_interruptions_total is not exposed")
	}
	if got, ok := n.metric("weft_peers_desired"); !ok || got != 0 {
		t.Errorf("weft_peers_desired alone = %v (found %t), want 0", got, ok)
	}

	cl := e.Client(t)
	put := func(key, value string) {
		t.Helper()
		if _, err := cl.Put(context.Background(), prefix+"/subnets/"+key, value); err != nil {
			t.Fatal(err)
		}
	}
	put("10.244.200.0-24", `{"PublicIP":"198.19.0.9","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"2e:00:00:00:00:09"}}`)
	put("10.244.201.0-24", `{"PublicIP":"198.19.0.10","BackendType":"vxlan"}`)                                                    // reservation, no data yet
	put("10.99.0.0-24", `{"PublicIP":"198.19.0.11","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"2e:00:00:00:00:0b"}}`) // outside the network
	poll.Until(t, 20*time.Second, "one peer desired and programmed", func() (bool, string) {
		d, _ := n.metric("weft_peers_desired")
		p, _ := n.metric("weft_peers_programmed")
		r, _ := n.metric(`weft_leases_rejected{reason="outside-network"}`)
		return d == 1 && p == 1 && r == 1, fmt.Sprintf("desired %v programmed %v rejected %v", d, p, r)
	})
	_, body := n.get("/metrics")
	if !regexp.MustCompile(`(?m)^# TYPE weft_peers_desired gauge$`).MatchString(body) {
		t.Error("weft_peers_desired is not exposed as a gauge")
	}

	if _, err := cl.Delete(context.Background(), prefix+"/subnets/10.244.200.0-24"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "no peer desired after it left", func() (bool, string) {
		d, _ := n.metric("weft_peers_desired")
		p, _ := n.metric("weft_peers_programmed")
		return d == 0 && p == 0, fmt.Sprintf("desired %v programmed %v", d, p)
	})
}
