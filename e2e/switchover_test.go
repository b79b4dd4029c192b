// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weft-net/weft/backend/vxlan"
	"github.com/weft-net/weft/internal/cluster"
)

// TestRouteSwitchOver: nodes whose kernel holds metric-0 routes to their
// peers move to weft's per-peer metric routes without losing a packet.
// Node 1 holds the routes of a weft release before the metric (proto 87,
// metric 0), node 2 those of flanneld (the stand-in's, proto boot); weftd
// starts on both while pods ping each other across every route that
// switches. weftd adds each new route beside the old one (which, with the
// lower metric, keeps carrying the traffic) and then deletes the old one
// by its metric; afterwards each peer subnet has exactly weft's route.
func TestRouteSwitchOver(t *testing.T) {
	c := newCluster(t, cluster.Options{Nodes: 3, NoWeftd: true})
	ctx := context.Background()
	for _, n := range c.Nodes[:2] {
		if err := n.StartWeftd(); err != nil {
			t.Fatal(err)
		}
		if err := n.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	flanneld, older := c.Nodes[2], c.Nodes[1]
	sn2 := netip.MustParsePrefix("10.244.77.0/24")
	flannelStandIn(t, c, flanneld, sn2, "2e:aa:bb:cc:dd:03")
	pods := addPods(t, c, 1)
	subnets := []netip.Prefix{subnetOf(t, c.Nodes[0]), subnetOf(t, older), sn2}
	for _, n := range c.Nodes[:2] {
		waitFor(t, 30*time.Second, n.Name+" routes the flanneld node", func() (bool, string) { return routesTo(n, sn2), "" })
	}
	mustReach(t, pods)

	// Node 1 as a weft release before the metric left it: the same routes
	// at metric 0. (Added before the metric routes go, so pods stay reachable.)
	if _, err := older.StopWeftd(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, sn := range []netip.Prefix{subnets[0], sn2} {
		gw := sn.Addr().String()
		mustExec(t, older, "ip", "route", "add", sn.String(), "via", gw, "dev", "flannel.1", "onlink", "proto", "87")
		mustExec(t, older, "ip", "route", "del", sn.String(), "dev", "flannel.1", "proto", "87", "metric", metricOf(sn))
	}
	for _, n := range []*cluster.Node{older, flanneld} {
		for _, sn := range subnets {
			if sn == subnetOf(t, n) {
				continue
			}
			if out := mustExec(t, n, "ip", "-4", "route", "show", sn.String()); strings.Contains(out, "metric") {
				t.Fatalf("%s: route to %s is not in an old form (metric 0):\n%s", n.Name, sn, out)
			}
		}
	}
	mustReach(t, pods)

	// Every route that switches carries one of these: node 1's and node 2's
	// routes to each other and to node 0.
	var probes []*lossProbe
	for _, p := range [][2]int{{1, 0}, {1, 2}, {2, 0}, {2, 1}, {0, 1}, {0, 2}} {
		probes = append(probes, probeLoss(pods[p[0]], pods[p[1]]))
	}
	time.Sleep(500 * time.Millisecond)
	for _, n := range []*cluster.Node{older, flanneld} {
		if err := n.StartWeftd(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*cluster.Node{older, flanneld} {
		if err := n.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*cluster.Node{older, flanneld} {
		waitFor(t, 30*time.Second, n.Name+" holds only weft's routes", func() (bool, string) { return onlyNewRoutes(t, n, subnets) })
	}
	time.Sleep(time.Second)
	for _, p := range probes {
		sent, lost := p.stop()
		t.Logf("%s: %d pings during the switch-over, %d lost", p.name, sent, lost)
		if lost > 0 || sent < 10 {
			t.Errorf("%s: %d of %d pings lost during the switch-over, want none (of at least 10)", p.name, lost, sent)
		}
	}
}

func metricOf(sn netip.Prefix) string { return fmt.Sprint(vxlan.RouteMetric(sn)) }

func mustExec(t *testing.T, n *cluster.Node, args ...string) string {
	t.Helper()
	out, err := n.Exec(args...)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", n.Name, strings.Join(args, " "), err, out)
	}
	return out
}

// onlyNewRoutes reports whether n's only route to each peer subnet is
// weft's: proto 87 with the subnet's metric.
func onlyNewRoutes(t *testing.T, n *cluster.Node, subnets []netip.Prefix) (bool, string) {
	own := subnetOf(t, n)
	for _, sn := range subnets {
		if sn == own {
			continue
		}
		out, err := n.Exec("ip", "-4", "route", "show", sn.String())
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if err != nil || len(lines) != 1 || attr(lines[0], "proto") != "87" || attr(lines[0], "metric") != metricOf(sn) {
			return false, fmt.Sprintf("routes to %s:\n%s", sn, out)
		}
	}
	return true, ""
}

// attr returns the word after key in a line of `ip route` output.
func attr(line, key string) string {
	f := strings.Fields(line)
	for i := range len(f) - 1 {
		if f[i] == key {
			return f[i+1]
		}
	}
	return ""
}

// lossProbe pings from one pod to another, one echo at a time, and counts
// the echoes that got no reply within a second.
type lossProbe struct {
	name       string
	stopCh     chan struct{}
	done       chan struct{}
	mu         sync.Mutex
	sent, lost int
}

func probeLoss(from, to *cluster.Pod) *lossProbe {
	p := &lossProbe{name: from.String() + " -> " + to.String(), stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stopCh:
				return
			default:
			}
			_, err := cluster.Ping(from.NS, to.IP, 1, time.Second)
			p.mu.Lock()
			p.sent++
			if err != nil {
				p.lost++
			}
			p.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return p
}

func (p *lossProbe) stop() (sent, lost int) {
	close(p.stopCh)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent, p.lost
}
