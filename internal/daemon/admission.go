// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/weft-net/weft/backend"
	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/backend/vxlan"
	"github.com/weft-net/weft/subnet"
)

// admission stands between etcd and the backend: every lease passes the
// subnet.Admitter before it can become a peer. mu orders the admitter's
// deltas and their hand-over to the backend, which come from the watch,
// the lease keeper and the node-facts refresh.
type admission struct {
	d   *daemon
	be  backend.Backend
	src nodeFactsSource

	mu  sync.Mutex
	adm *subnet.Admitter
	ext backend.ExternalInterface
	// changed asks run for a refresh (our lease changed), so no caller
	// starts a goroutine of its own.
	changed chan struct{}
}

// poke asks for a refresh without blocking.
func (a *admission) poke() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// nodeFactsSource is what stage 2 reads from the kernel; the netlink
// dataplane satisfies it.
type nodeFactsSource interface {
	Links() ([]dataplane.Link, error)
	Routes(f dataplane.Family) ([]dataplane.Route, error)
}

// start admits the leases of the start-up list and hands the admitted
// ones to the backend as its first peer set.
func (a *admission) start(ctx context.Context, leases []subnet.Lease) {
	local := a.local(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.adm = subnet.NewAdmitter(a.d.cfg, local)
	// Load, not Reset: the backend takes the admitted set whole, so a
	// delta's events (a copy of every lease) would only be garbage.
	a.report(a.adm.Load(leases))
	a.be.SetPeers(a.adm.Admitted())
	a.d.metrics.setDesired(a.desired)
}

// apply admits watch events and passes on what changed.
func (a *admission) apply(evs []subnet.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d := a.adm.Apply(evs)
	a.report(d.Rejected)
	if len(d.Events) > 0 {
		a.be.ApplyEvents(d.Events)
	}
}

// refresh re-reads the node's facts (own lease, addresses, routes, etcd
// endpoints) and re-decides every lease if they changed.
func (a *admission) refresh(ctx context.Context) {
	local := a.local(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	if sameLocal(a.adm.Local(), local) {
		return
	}
	d := a.adm.SetLocal(local)
	a.report(d.Rejected)
	if len(d.Events) > 0 {
		a.be.ApplyEvents(d.Events)
	}
}

// setUnderlay records a changed underlay for the next refresh.
func (a *admission) setUnderlay(ext backend.ExternalInterface) {
	a.mu.Lock()
	a.ext = ext
	a.mu.Unlock()
}

// run refreshes the node's facts every resync interval: a route or an
// address added by hand may make a peer unsafe (or safe again).
func (a *admission) run(ctx context.Context) {
	t := time.NewTicker(a.d.opts.ResyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.changed:
		}
		a.refresh(ctx)
	}
}

// report logs each lease rejected anew (once per key and change) and
// keeps the rejected-leases gauge. Reservations without backend data are
// admitted (they program nothing) and so stay quiet.
func (a *admission) report(rejected []subnet.Rejection) {
	for _, r := range rejected {
		a.d.log.WithFields(logrus.Fields{
			"key": a.d.leaseKey(r.Lease), "reason": string(r.Reason), "detail": r.Detail,
			"public_ip": r.Lease.Attrs.NodeIP(), "revision": r.Lease.ModRevision,
		}).Warn("lease rejected, not programmed")
	}
	counts := a.adm.Rejections()
	for _, r := range subnet.Reasons {
		a.d.metrics.leasesRejected.WithLabelValues(string(r)).Set(float64(counts[r]))
	}
}

// local gathers stage 2's facts. A failed dump keeps the facts it could
// read: the previous ones are not better, and the next refresh retries.
func (a *admission) local(ctx context.Context) subnet.Local {
	a.mu.Lock()
	ext := a.ext
	a.mu.Unlock()
	own := a.d.currentLease()
	l := subnet.LocalOf(own)
	l.Endpoints = endpointAddrs(ctx, a.d.opts.Etcd.Endpoints)
	if !l.PublicIP.IsValid() {
		l.PublicIP, l.PublicIPv6 = ext.PublicIP, ext.PublicIPv6
	}
	links, err := a.src.Links()
	if err != nil {
		a.d.log.WithError(err).Warn("list interfaces for lease admission")
	}
	fams := []dataplane.Family{dataplane.IPv4}
	if a.d.cfg.EnableIPv6 {
		fams = append(fams, dataplane.IPv6)
	}
	var routes []dataplane.Route
	for _, f := range fams {
		rs, err := a.src.Routes(f)
		if err != nil {
			a.d.log.WithError(err).Warn("list routes for lease admission")
		}
		routes = append(routes, rs...)
	}
	l.Addrs, l.Routes = vxlan.NodeFacts(links, routes, a.d.cfg.Backend.VNI)
	return l
}

// endpointAddrs resolves the etcd endpoints' hosts. A name that does not
// resolve now is skipped: it cannot be covered by a route we would add.
func endpointAddrs(ctx context.Context, endpoints []string) []netip.Addr {
	var out []netip.Addr
	for _, e := range endpoints {
		host := e
		if u, err := url.Parse(e); err == nil && u.Host != "" {
			host = u.Hostname()
		} else if h, _, err := net.SplitHostPort(e); err == nil {
			host = h
		}
		if a, err := netip.ParseAddr(host); err == nil {
			out = append(out, a.Unmap())
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		cancel()
		if err == nil {
			for _, a := range addrs {
				out = append(out, a.Unmap())
			}
		}
	}
	return out
}

func sameLocal(a, b subnet.Local) bool {
	return a.Subnet == b.Subnet && a.IPv6Subnet == b.IPv6Subnet && a.PublicIP == b.PublicIP &&
		a.PublicIPv6 == b.PublicIPv6 && slices.Equal(a.VTEPMACs, b.VTEPMACs) && slices.Equal(a.Addrs, b.Addrs) &&
		slices.Equal(a.Endpoints, b.Endpoints) && slices.Equal(a.Routes, b.Routes)
}
