// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/backend/vxlan"
	"github.com/weft-net/weft/internal/cluster"
	"github.com/weft-net/weft/subnet"
	subnetetcd "github.com/weft-net/weft/subnet/etcd"
)

// etcdView is what etcd says: the network config and every lease.
type etcdView struct {
	cfg    *subnet.Config
	leases []subnet.Lease
}

// readEtcd reads the config and the leases, as weftd and doctor do.
func (f *Fleet) readEtcd(ctx context.Context) (etcdView, error) {
	cl, err := f.C.Client()
	if err != nil {
		return etcdView{}, err
	}
	defer cl.Close()
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel) // malformed stray keys are expected here
	reg := subnetetcd.New(cl, f.C.Prefix(), log)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cfg, err := reg.GetConfig(cctx)
	if err != nil {
		return etcdView{}, fmt.Errorf("etcd config: %w", err)
	}
	leases, _, err := reg.ListLeases(cctx)
	if err != nil {
		return etcdView{}, fmt.Errorf("etcd leases: %w", err)
	}
	return etcdView{cfg: cfg, leases: leases}, nil
}

// CheckNode compares one node's kernel with etcd's view the way weftctl
// doctor does: the leases admitted on this node (subnet.Admit with the
// node's own lease, addresses, routes and the etcd endpoints), planned and
// diffed against the node's dumped routes, neighbours and FDB by
// vxlan.Check. It returns what a reconcile would still change, empty when
// the kernel equals etcd.
func (f *Fleet) CheckNode(n *cluster.Node, v etcdView) ([]string, error) {
	dp, err := n.Dataplane()
	if err != nil {
		return nil, err
	}
	defer dp.Close()
	links, err := dp.Links()
	if err != nil {
		return nil, fmt.Errorf("node %s: links: %w", n.Name, err)
	}
	routes, err := dp.Routes(dataplane.IPv4)
	if err != nil {
		return nil, fmt.Errorf("node %s: routes: %w", n.Name, err)
	}
	dev, err := dp.LinkByName(vxlan.DeviceName(v.cfg.Backend.VNI))
	if err != nil {
		return []string{"no VXLAN device: " + err.Error()}, nil
	}
	kernel := vxlan.Tables{Routes: routes}
	if kernel.Neighs, err = dp.Neighs(dev.Index); err != nil {
		return nil, fmt.Errorf("node %s: neighbours: %w", n.Name, err)
	}
	if kernel.FDB, err = dp.FDB(dev.Index); err != nil {
		return nil, fmt.Errorf("node %s: fdb: %w", n.Name, err)
	}
	local := f.admitLocal(n, v, links, routes)
	admitted := subnet.Admit(v.cfg, local, v.leases).Admitted
	vl := vxlan.Local{Own4: local.Subnet, Dev4: dev.Index}
	if dev.VXLAN != nil {
		vl.Underlay = dev.VXLAN.UnderlayIndex
	}
	ops, problems := vxlan.Check(vl, admitted, kernel)
	var out []string
	for _, op := range ops {
		out = append(out, op.String())
	}
	for _, p := range problems {
		out = append(out, fmt.Sprintf("lease %s unusable: %v", p.Subnet, p.Err))
	}
	return out, nil
}

// admitLocal is subnet.Local for node n: its own lease (by PublicIP, the
// node's underlay address) and what the kernel shows.
func (f *Fleet) admitLocal(n *cluster.Node, v etcdView, links []dataplane.Link, routes []dataplane.Route) subnet.Local {
	var local subnet.Local
	for _, l := range v.leases {
		if l.Attrs.PublicIP == n.IP {
			local = subnet.LocalOf(l)
		}
	}
	local.Addrs, local.Routes = vxlan.NodeFacts(links, routes, v.cfg.Backend.VNI)
	for _, m := range f.C.Etcd {
		local.Endpoints = append(local.Endpoints, m.IP)
	}
	return local
}

// Check runs CheckNode on every node whose weftd runs, Workers at a time,
// and returns the differences by node name (empty: converged).
func (f *Fleet) Check(ctx context.Context) (map[string][]string, error) {
	v, err := f.readEtcd(ctx)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	diffs := map[string][]string{}
	err = f.each(f.Up(), func(n *cluster.Node) error {
		d, err := f.CheckNode(n, v)
		if err != nil {
			return err
		}
		if len(d) > 0 {
			mu.Lock()
			diffs[n.Name] = d
			mu.Unlock()
		}
		return nil
	})
	return diffs, err
}

// WaitConverged polls Check until every running node's kernel equals
// etcd's view, and returns when that was first seen. It gives up after
// Config.Converge, returning the last differences.
func (f *Fleet) WaitConverged(ctx context.Context) (time.Time, error) {
	deadline := time.Now().Add(f.Cfg.Converge)
	var last string
	for {
		diffs, err := f.Check(ctx)
		now := time.Now()
		switch {
		case err == nil && len(diffs) == 0:
			return now, nil
		case err != nil:
			last = err.Error()
		default:
			last = summarizeDiffs(diffs)
		}
		if now.After(deadline) || ctx.Err() != nil {
			return now, fmt.Errorf("kernels still differ from etcd after %s: %s", f.Cfg.Converge, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// summarizeDiffs names the nodes that differ and the first few
// differences of each.
func summarizeDiffs(diffs map[string][]string) string {
	names := make([]string, 0, len(diffs))
	for n := range diffs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%d node(s) differ", len(names))
	for i, n := range names {
		if i == 3 {
			b.WriteString("; ...")
			break
		}
		d := diffs[n]
		fmt.Fprintf(&b, "; %s: %s", n, strings.Join(d[:min(3, len(d))], ", "))
		if len(d) > 3 {
			fmt.Fprintf(&b, " (+%d)", len(d)-3)
		}
	}
	return b.String()
}

// overlayRoutes lists the destinations node n routes over its VXLAN
// device (none when the device is missing).
func overlayRoutes(n *cluster.Node, vni uint32) (map[netip.Prefix]bool, error) {
	dp, err := n.Dataplane()
	if err != nil {
		return nil, err
	}
	defer dp.Close()
	dev, err := dp.LinkByName(vxlan.DeviceName(vni))
	if errors.Is(err, dataplane.ErrNotFound) {
		return map[netip.Prefix]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Name, err)
	}
	routes, err := dp.Routes(dataplane.IPv4)
	if err != nil {
		return nil, fmt.Errorf("node %s: routes: %w", n.Name, err)
	}
	out := map[netip.Prefix]bool{}
	for _, r := range routes {
		if r.LinkIndex == dev.Index {
			out[r.Dst] = true
		}
	}
	return out, nil
}

// waitRoutes polls the nodes' overlay routes until cond holds on each, and
// returns for each node how long after t0 it was first seen to hold. A
// route is added after its neighbour and FDB entries and removed before
// them, so a route present means the peer is programmed and a route gone
// means it no longer gets traffic.
func (f *Fleet) waitRoutes(ctx context.Context, nodes []*cluster.Node, t0 time.Time, timeout time.Duration,
	cond func(map[netip.Prefix]bool) bool) ([]time.Duration, error) {
	const vni = 1 // DefaultNetConf's
	var mu sync.Mutex
	done := map[*cluster.Node]time.Duration{}
	deadline := time.Now().Add(timeout)
	for len(done) < len(nodes) {
		var pending []*cluster.Node
		for _, n := range nodes {
			if _, ok := done[n]; !ok {
				pending = append(pending, n)
			}
		}
		err := f.each(pending, func(n *cluster.Node) error {
			rs, err := overlayRoutes(n, vni)
			if err != nil {
				return err
			}
			if cond(rs) {
				mu.Lock()
				done[n] = time.Since(t0)
				mu.Unlock()
			}
			return nil
		})
		if len(done) == len(nodes) {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, errors.Join(fmt.Errorf("%d of %d nodes not there after %s", len(nodes)-len(done), len(nodes), timeout), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := make([]time.Duration, 0, len(done))
	for _, d := range done {
		out = append(out, d)
	}
	slices.Sort(out)
	return out, nil
}
