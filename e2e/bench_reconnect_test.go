// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/internal/netns"
	"github.com/weft-net/weft/subnet"
)

// reconnectScenario is one etcd outage of BenchmarkEtcdReconnect.
type reconnectScenario struct {
	name      string
	blackhole bool          // link down inside etcd's namespace; else SIGKILL and restart
	outage    time.Duration // how long etcd is gone
	ttl       time.Duration // weftd's --subnet-lease-ttl
}

// The lease TTL is chosen per scenario so that weftd has a renewal under
// way (blocked waiting for a connection, or retrying) when etcd returns —
// weftd renews every TTL/3, at most every minute, and the first renewal
// after etcd returns only measures reconnection if one was attempted
// during the outage — and so that no lease expires meanwhile:
//
//   - kill: 15 s (renewal every 5 s). A restarted etcd extends every lease
//     by its full TTL when it elects itself leader, so nothing expires
//     during the outage; a lease would expire only if weftd took more than
//     15 s to come back, which the reclaims metric would show.
//   - blackhole-10s: 24 s (renewal every 8 s). etcd keeps running and
//     counts down: the lease has at least 16 s left when the link goes
//     down, and a renewal is attempted during the 10 s outage.
//   - blackhole-150s: 300 s (renewal every 60 s, the cap): at least 240 s
//     left at the cut, renewals attempted and retried during the outage.
var reconnectScenarios = []reconnectScenario{
	{name: "kill-10s", outage: 10 * time.Second, ttl: 15 * time.Second},
	{name: "kill-150s", outage: 150 * time.Second, ttl: 15 * time.Second},
	{name: "blackhole-10s", blackhole: true, outage: 10 * time.Second, ttl: 24 * time.Second},
	{name: "blackhole-150s", blackhole: true, outage: 150 * time.Second, ttl: 300 * time.Second},
}

// reconnectNodes is the cluster size; the metrics are medians over nodes.
const reconnectNodes = 3

// BenchmarkEtcdReconnect measures how promptly weftd comes back after an
// etcd outage (issue 11): a 3-node cluster with one etcd member loses etcd
// for 10 s or 150 s, either killed (SIGKILL, then restarted on the same
// data) or blackholed (its veth set down, then up, inside etcd's own
// namespace). From the moment etcd answers /health again (probed from the
// underlay namespace with a new connection every 50 ms):
//
//   - renew-s: until the node's first successful lease renewal (its
//     weft_lease_renewals_total, polled every 50 ms, moves);
//   - watch-s: until a marker lease, written right after etcd is healthy,
//     is in the node's kernel (the netlink notification of its route).
//
// Each is the median over the nodes; -max-s is the slowest node. etcd-up-s
// is from the restart (or link up) to /health answering; reclaims counts
// leases that expired and were re-claimed (0 unless reconnect took longer
// than the TTL). The 150 s outages make one run last about six minutes:
// WEFT_BENCH_RECONNECT=short runs only the 10 s outages, =off none.
func BenchmarkEtcdReconnect(b *testing.B) {
	mode := os.Getenv("WEFT_BENCH_RECONNECT")
	for _, sc := range reconnectScenarios {
		b.Run(sc.name, func(b *testing.B) {
			switch {
			case mode == "off":
				b.Skip("WEFT_BENCH_RECONNECT=off")
			case mode == "short" && sc.outage > time.Minute:
				b.Skip("WEFT_BENCH_RECONNECT=short: 10 s outages only")
			}
			etcdReconnect(b, sc)
		})
	}
}

func etcdReconnect(b *testing.B, sc reconnectScenario) {
	noTimePerOp(b)
	c := newBenchCluster(b, cluster.Options{
		Nodes: reconnectNodes, WeftdArgs: []string{"--subnet-lease-ttl", sc.ttl.String()},
	})
	ctx := benchCtx(b, sc.outage+5*time.Minute)
	etcd := c.Etcd[0]

	// The marker lease: a fake peer in a subnet no node holds, bound to an
	// etcd lease granted now (it survives the outage).
	marker := reconnectMarker(b, c)
	cl, err := c.Client()
	if err != nil {
		b.Fatal(err)
	}
	g, err := cl.Grant(ctx, int64(time.Hour/time.Second))
	_ = cl.Close()
	if err != nil {
		b.Fatal(err)
	}
	markerKey := c.Prefix() + "/subnets/" + marker.Key()
	markerValue, err := marker.Attrs.MarshalJSON()
	if err != nil {
		b.Fatal(err)
	}

	trackers := make([]*tracker, len(c.Nodes))
	for i, n := range c.Nodes {
		trackers[i] = openKernel(b, n.NS).track(b)
	}
	before := make([]nodeCounters, len(c.Nodes))
	for i, n := range c.Nodes {
		if before[i], err = readCounters(ctx, n.HTTPClient(), n); err != nil {
			b.Fatal(err)
		}
	}

	// The outage. The renewal pollers start once etcd is gone: any renewal
	// they see is one made after it returned.
	if sc.blackhole {
		setEtcdLink(b, etcd, "down")
	} else {
		etcd.Kill()
	}
	restored := false
	b.Cleanup(func() {
		if !restored && sc.blackhole {
			setEtcdLink(b, etcd, "up")
		}
	})
	pollCtx, stopPolls := context.WithCancel(ctx)
	defer stopPolls()
	polls := make([]chan renewSeen, len(c.Nodes))
	for i, n := range c.Nodes {
		polls[i] = make(chan renewSeen, 1)
		go func() { polls[i] <- firstRenewal(pollCtx, n) }()
	}
	time.Sleep(sc.outage)

	restore := time.Now()
	if sc.blackhole {
		setEtcdLink(b, etcd, "up")
	} else if err := etcd.Start(); err != nil {
		b.Fatal(err)
	}
	restored = true
	healthy, err := waitEtcdHealthy(ctx, c.Underlay, etcd.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	putMarker(b, ctx, c, markerKey, string(markerValue), clientv3.LeaseID(g.ID))

	renew := make([]time.Duration, len(c.Nodes))
	watch := make([]time.Duration, len(c.Nodes))
	var reclaims uint64
	for i, n := range c.Nodes {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		at, err := routeSeen(wctx, trackers[i], marker.Subnet)
		cancel()
		if err != nil {
			b.Fatalf("%s: marker %s never reached the kernel: %v", n.Name, marker.Subnet, err)
		}
		watch[i] = at.Sub(healthy)
		var r renewSeen
		select {
		case r = <-polls[i]:
		case <-time.After(2 * time.Minute):
			b.Fatalf("%s: no lease renewal within 2 minutes of etcd returning", n.Name)
		}
		if r.err != nil {
			b.Fatalf("%s: %v", n.Name, r.err)
		}
		renew[i] = r.at.Sub(healthy)
		after, err := readCounters(ctx, n.HTTPClient(), n)
		if err != nil {
			b.Fatal(err)
		}
		reclaims += after.reclaims - before[i].reclaims
		b.Logf("%s: renewed %s, marker in kernel %s after etcd was healthy", n.Name, renew[i].Round(time.Millisecond), watch[i].Round(time.Millisecond))
	}
	b.ReportMetric(percentile(renew, 0.5).Seconds(), "renew-s")
	b.ReportMetric(percentile(watch, 0.5).Seconds(), "watch-s")
	b.ReportMetric(percentile(renew, 1).Seconds(), "renew-max-s")
	b.ReportMetric(percentile(watch, 1).Seconds(), "watch-max-s")
	b.ReportMetric(healthy.Sub(restore).Seconds(), "etcd-up-s")
	b.ReportMetric(float64(reclaims), "reclaims")
}

// reconnectMarker returns a fake peer lease in a /24 of 10.244.0.0/16 that
// no node holds, with a public IP in 198.19.0.0/16.
func reconnectMarker(b *testing.B, c *cluster.Cluster) subnet.Lease {
	b.Helper()
	taken := map[netip.Prefix]bool{}
	for _, n := range c.Nodes {
		sn, err := n.Subnet()
		if err != nil {
			b.Fatal(err)
		}
		taken[sn] = true
	}
	for i := 250; i > 0; i-- {
		sn := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, byte(i), 0}), 24)
		if taken[sn] {
			continue
		}
		return subnet.Lease{Subnet: sn, Attrs: subnet.LeaseAttrs{
			PublicIP:    netip.AddrFrom4([4]byte{198, 19, 0, byte(i)}),
			BackendType: "vxlan",
			BackendData: []byte(fmt.Sprintf(`{"VNI":1,"VtepMAC":"0e:57:ee:00:00:%02x"}`, i)),
		}}
	}
	b.Fatal("no free subnet for the marker lease")
	return subnet.Lease{}
}

// setEtcdLink sets the etcd member's eth0 up or down, inside its own
// namespace only.
func setEtcdLink(b *testing.B, m *cluster.EtcdMember, state string) {
	b.Helper()
	if _, err := netns.Exec(m.NS, "ip", "link", "set", "eth0", state); err != nil {
		b.Fatalf("etcd %s: link %s: %v", m.Name, state, err)
	}
}

// waitEtcdHealthy probes etcd's /health from namespace ns with a new
// connection every 50 ms (probes overlap, so a slow one does not delay the
// next) and returns when the first answered healthy.
func waitEtcdHealthy(ctx context.Context, ns, clientURL string) (time.Time, error) {
	hc := &http.Client{
		Timeout: 500 * time.Millisecond,
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return netns.DialContext(ctx, ns, network, addr)
		}},
	}
	got := make(chan time.Time, 1)
	probe := func() {
		resp, err := hc.Get(clientURL + "/health")
		if err != nil {
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"health":"true"`) {
			select {
			case got <- time.Now():
			default:
			}
		}
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Minute)
	for {
		go probe()
		select {
		case at := <-got:
			return at, nil
		case <-tick.C:
		case <-deadline:
			return time.Time{}, fmt.Errorf("etcd at %s not healthy within 2 minutes", clientURL)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// putMarker writes the marker with a new client (an old one would still be
// in its own reconnect backoff).
func putMarker(b *testing.B, ctx context.Context, c *cluster.Cluster, key, value string, id clientv3.LeaseID) {
	b.Helper()
	cl, err := c.Client()
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := cl.Put(pctx, key, value, clientv3.WithLease(id)); err != nil {
		b.Fatalf("put marker lease %s: %v", key, err)
	}
}

// routeSeen waits until the tracker saw the route to sn, and returns when.
func routeSeen(ctx context.Context, tr *tracker, sn netip.Prefix) (time.Time, error) {
	var at time.Time
	_, err := tr.wait(ctx, func() bool {
		if _, ok := tr.t.Routes[sn]; !ok {
			return false
		}
		at = tr.routeAt[sn]
		return true
	})
	return at, err
}

// nodeCounters are the lease counters of one weftd's /metrics.
type nodeCounters struct{ renewals, reclaims uint64 }

func readCounters(ctx context.Context, hc *http.Client, n *cluster.Node) (nodeCounters, error) {
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet,
		"http://"+net.JoinHostPort(n.IP.String(), strconv.Itoa(cluster.HealthzPort))+"/metrics", nil)
	if err != nil {
		return nodeCounters{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nodeCounters{}, fmt.Errorf("%s: metrics: %w", n.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nodeCounters{}, fmt.Errorf("%s: metrics: %w", n.Name, err)
	}
	var nc nodeCounters
	found := 0
	for _, l := range strings.Split(string(body), "\n") {
		name, v, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		var dst *uint64
		switch name {
		case "weft_lease_renewals_total":
			dst = &nc.renewals
		case "weft_lease_reclaims_total":
			dst = &nc.reclaims
		default:
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nodeCounters{}, fmt.Errorf("%s: metrics: %s %q: %w", n.Name, name, v, err)
		}
		*dst = uint64(f)
		found++
	}
	if found != 2 {
		return nodeCounters{}, fmt.Errorf("%s: metrics: lease counters missing", n.Name)
	}
	return nc, nil
}

// renewSeen is when a node's renewal counter first moved.
type renewSeen struct {
	at  time.Time
	err error
}

// firstRenewal polls the node's counters every 50 ms, from now (etcd is
// gone) until the renewal counter moves.
func firstRenewal(ctx context.Context, n *cluster.Node) renewSeen {
	hc := n.HTTPClient()
	defer hc.CloseIdleConnections()
	var base *nodeCounters
	var lastErr error
	for {
		nc, err := readCounters(ctx, hc, n)
		now := time.Now()
		switch {
		case err != nil:
			lastErr = err
		case base == nil:
			base = &nc
		case nc.renewals > base.renewals:
			return renewSeen{at: now}
		}
		select {
		case <-ctx.Done():
			return renewSeen{err: fmt.Errorf("no renewal seen (last error: %w)", lastErr)}
		case <-time.After(50 * time.Millisecond):
		}
	}
}
