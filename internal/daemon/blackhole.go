// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"context"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/backend/dataplane/netlinkdp"
	"github.com/weft-net/weft/backend/vxlan"
)

// blackholeMetric is the metric of weftd's blackhole routes: the largest,
// so that any other route to the same prefix wins. The bridge's connected
// route to the node's subnet (metric 0, or 256 for IPv6) keeps carrying
// traffic to local pods; the blackhole only drops what nothing else
// routes, instead of letting it leave by the default route.
const blackholeMetric = math.MaxUint32

// blackholeKernel is the part of the dataplane the blackhole routes need;
// *netlinkdp.Dataplane is one.
type blackholeKernel interface {
	Blackholes(f dataplane.Family) ([]netlinkdp.Blackhole, error)
	ReplaceBlackhole(b netlinkdp.Blackhole) error
	DelBlackhole(b netlinkdp.Blackhole) error
}

// blackholes keeps --ip-blackhole-route's routes: one blackhole route in
// the main table per subnet of our lease (IPv4, and IPv6 when enabled),
// with weft's route protocol, put back when someone deletes it. Its
// methods run on one goroutine.
type blackholes struct {
	d       *daemon
	k       blackholeKernel
	added   map[netip.Prefix]bool // added by this run: a later absence is a repair
	failing bool                  // an incident was logged
}

// runBlackholes keeps the blackhole routes while the lease is held and
// removes them when it is given back: on --release-on-exit, or when weftd
// stops on an error (its subnet may be another node's by then; a restart
// adds them again at once if not). A plain stop keeps them, as it keeps the
// device and peers. Without the flag it removes the routes a run with the
// flag left behind, and returns. parent is Run's context: done on a stop,
// while ctx ends on an error too.
func (d *daemon) runBlackholes(parent, ctx context.Context, k blackholeKernel) {
	b := &blackholes{d: d, k: k, added: map[netip.Prefix]bool{}}
	if !d.opts.BlackholeRoute {
		b.sync(nil)
		return
	}
	t := time.NewTicker(min(nodeCheckInterval, d.opts.ResyncInterval))
	defer t.Stop()
	for {
		b.sync(b.want())
		select {
		case <-ctx.Done():
			if parent.Err() == nil || d.opts.ReleaseOnExit {
				b.sync(nil)
			}
			return
		case <-t.C:
		}
	}
}

// want is the blackhole routes our lease asks for. An IPv6-only lease's
// IPv4 part is the 0.0.0.0/0 placeholder: no IPv4 subnet, no route.
func (b *blackholes) want() []netip.Prefix {
	l := b.d.currentLease()
	var out []netip.Prefix
	if sn := l.Subnet; b.d.cfg.EnableIPv4 && sn.IsValid() && sn.Bits() > 0 {
		out = append(out, sn.Masked())
	}
	if sn := l.IPv6Subnet; b.d.cfg.EnableIPv6 && sn.IsValid() && sn.Bits() > 0 {
		out = append(out, sn.Masked())
	}
	return out
}

// sync makes weft's blackhole routes (protocol and metric ours) exactly
// want: missing ones added, others deleted. Routes of other owners, such
// as flanneld's, are left alone.
func (b *blackholes) sync(want []netip.Prefix) {
	var errs []error
	for _, f := range []dataplane.Family{dataplane.IPv4, dataplane.IPv6} {
		have, err := b.k.Blackholes(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		held := map[netip.Prefix]bool{}
		for _, h := range have {
			if h.Protocol != vxlan.RouteProtocol || h.Metric != blackholeMetric {
				continue
			}
			if slices.Contains(want, h.Dst) {
				held[h.Dst] = true
				continue
			}
			if err := b.k.DelBlackhole(h); err != nil {
				errs = append(errs, err)
				continue
			}
			delete(b.added, h.Dst)
			b.d.log.WithField("subnet", h.Dst).Info("blackhole route removed")
		}
		for _, sn := range want {
			if dataplane.FamilyOf(sn.Addr()) != f || held[sn] {
				continue
			}
			if err := b.k.ReplaceBlackhole(netlinkdp.Blackhole{Dst: sn, Protocol: vxlan.RouteProtocol, Metric: blackholeMetric}); err != nil {
				errs = append(errs, err)
				continue
			}
			log := b.d.log.WithFields(logrus.Fields{"subnet": sn, "metric": uint32(blackholeMetric)})
			if b.added[sn] {
				b.d.metrics.nodeRepairs.WithLabelValues("blackhole-route").Inc()
				log.Warn("blackhole route was removed; put it back")
			} else {
				log.Info("blackhole route added")
			}
			b.added[sn] = true
		}
	}
	b.report(errs)
}

// report notes a failure in /readyz (a missing blackhole route does not
// stop pods from working, so it is no readiness condition) and logs it once.
func (b *blackholes) report(errs []error) {
	if len(errs) == 0 {
		if b.failing {
			b.d.log.Info("blackhole routes in place again")
			b.failing = false
		}
		b.d.ready.note("blackhole-route", "")
		return
	}
	b.d.ready.note("blackhole-route", "not in place: "+errs[0].Error())
	if !b.failing {
		b.d.log.WithError(errs[0]).Error("cannot keep the blackhole routes; retrying")
		b.failing = true
	}
}
