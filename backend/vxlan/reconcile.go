// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/weft-net/weft/backend"
	"github.com/weft-net/weft/backend/dataplane"
)

// maxRepairBatch is how many individually reported deletions are repaired
// one by one; beyond it a full reconcile is cheaper and surer.
const maxRepairBatch = 256

// ensureDevices finds the underlay, ensures every device and its address,
// and refreshes ls.local.
//
// planOK says whether peers can be planned despite err: the underlay and
// the first device (IPv4, or IPv6 in an IPv6-only network) exist and
// nothing the plan depends on failed. A missing
// IPv6 device, an address or checksum-offload problem must not stop the
// other peers from being programmed.
func (b *Backend) ensureDevices(ls *loopState) (repairs int, recreated map[int]bool, planOK bool, err error) {
	underlay, err := b.underlay()
	if err != nil {
		for _, d := range b.devs {
			d.index = 0
		}
		ls.local.Dev4, ls.local.Dev6 = 0, 0
		return 0, nil, false, err
	}
	recreated = map[int]bool{}
	var errs []error
	for _, d := range b.devs {
		created, err := b.ensureDevice(d, underlay)
		if created && ls.hadDevice[d.name] {
			repairs++
			recreated[d.index] = true
			b.log.WithField("device", d.name).Info("device re-created")
		}
		if d.index != 0 {
			ls.hadDevice[d.name] = true
		}
		if err == nil {
			err = b.ensureAddr(d)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("device %s: %w", d.name, err))
		}
	}
	ls.local = Local{Underlay: underlay.Index, UnderlayAddrs: b.underlayAddrs()}
	b.setLocalDevices(&ls.local)
	planOK = b.devs[0].index != 0
	if b.cfg.DirectRouting {
		// Without the underlay's addresses every peer would be planned
		// through the tunnel: better not to plan at all.
		if ls.local.Direct, err = b.dp.Addrs(underlay.Index); err != nil {
			errs = append(errs, err)
			planOK = false
		}
	}
	return repairs, recreated, planOK, errors.Join(errs...)
}

// observe reads what the backend owns in the kernel: every permanent
// neighbour and FDB entry on its devices, the routes carrying
// RouteProtocol, and routes on its devices with the default protocol
// (flanneld's, adopted on a node switched from it).
func (b *Backend) observe(l Local) (dump, error) {
	var d dump
	devs := map[int]bool{}
	for _, dev := range []int{l.Dev4, l.Dev6} {
		if dev == 0 {
			continue
		}
		devs[dev] = true
		ns, err := b.dp.Neighs(dev)
		if err != nil {
			return d, err
		}
		d.neighs = append(d.neighs, ns...)
		fdb, err := b.dp.FDB(dev)
		if err != nil {
			return d, err
		}
		d.fdb = append(d.fdb, fdb...)
	}
	fams := []dataplane.Family{dataplane.IPv4}
	if l.Dev6 != 0 {
		fams = append(fams, dataplane.IPv6)
	}
	for _, f := range fams {
		rs, err := b.dp.Routes(f)
		if err != nil {
			return d, err
		}
		for _, r := range rs {
			if r.Protocol == RouteProtocol || (devs[r.LinkIndex] && r.Protocol == dataplane.RTProtoBoot) {
				r.Src = netip.Addr{}
				d.routes = append(d.routes, r)
			}
		}
	}
	return d, nil
}

// warnProblems logs each skipped lease once per distinct problem.
func (b *Backend) warnProblems(ls *loopState, problems []Problem) {
	for _, p := range problems {
		msg := p.Err.Error()
		if ls.warned[p.Subnet] == msg {
			continue
		}
		ls.warned[p.Subnet] = msg
		b.log.WithField("subnet", p.Subnet).WithError(p.Err).Warn("skipping malformed peer lease")
	}
}

// applyChanges reprograms only the subnets that changed: no dump, work
// proportional to the change, not to the number of peers. The entries
// involved are diffed as planned against as last known in the kernel.
func (b *Backend) applyChanges(ls *loopState, changes map[netip.Prefix]*peerSpec) error {
	var keys []netip.Prefix
	for sn, s := range changes {
		for _, k := range []netip.Prefix{sn, ls.v6of[sn], specV6(s)} {
			if k.IsValid() && !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	held := NewState()
	for _, k := range keys {
		if p, ok := ls.peers[k]; ok {
			ls.heldInto(held, k, p)
		}
	}
	for sn, s := range changes {
		ls.removePeer(sn)
		if v6, ok := ls.v6of[sn]; ok {
			ls.removePeer(v6)
			delete(ls.v6of, sn)
		}
		if s != nil {
			if err := planSpec(ls.local, sn, s, func(e PeerEntries) { ls.addPeer(sn, e, s.rev) }); err != nil {
				b.warnProblems(ls, []Problem{{Subnet: sn, Err: err}})
			}
		}
		b.logPeer(s, sn)
	}
	want := NewState()
	for _, k := range keys {
		if p, ok := ls.peers[k]; ok {
			ls.wantInto(want, k, p)
		}
	}
	for k := range held.FDB {
		if f, ok := ls.fdb[k]; ok { // still planned for a peer that did not change
			want.FDB[k] = dataplane.FDBEntry{LinkIndex: k.Link, MAC: k.MAC, Dst: f.dst}
		}
	}
	_, err := Apply(b.dp, Diff(want, held), held, ls.own.record)
	ls.learn(keys, held)
	return err
}

func specV6(s *peerSpec) netip.Prefix {
	if s == nil || s.v6 == nil {
		return netip.Prefix{}
	}
	return s.v6.subnet
}

func (b *Backend) logPeer(s *peerSpec, sn netip.Prefix) {
	if s == nil {
		b.log.WithField("subnet", sn).Info("peer removed")
		return
	}
	f := logrus.Fields{"subnet": sn, "public_ip": s.public}
	if !s.mac.IsZero() {
		f["vtep_mac"] = s.mac
	}
	b.log.WithFields(f).Info("peer added")
}

// repair re-adds the entries the kernel reported deleted.
func (b *Backend) repair(ls *loopState) (int, error) {
	q := ls.repairs
	ls.repairs.reset()
	want, held := NewState(), NewState()
	var keys []netip.Prefix
	for _, nk := range q.neighs {
		if k, p, ok := ls.peerByGw(nk.Link, nk.IP); ok {
			keys = append(keys, k)
			want.Neighs[nk] = ls.entries(k, p).Neigh
			if p.bits&hasNeigh != 0 { // re-added meanwhile
				held.Neighs[nk] = want.Neighs[nk]
			}
		}
	}
	for _, k := range q.fdb {
		if f, ok := ls.fdb[k]; ok {
			want.FDB[k] = dataplane.FDBEntry{LinkIndex: k.Link, MAC: k.MAC, Dst: f.dst}
			if f.has {
				held.FDB[k] = want.FDB[k]
			}
		}
	}
	for _, dst := range q.routes {
		if p, ok := ls.peers[dst]; ok {
			keys = append(keys, dst)
			want.Routes[dst] = []dataplane.Route{ls.entries(dst, p).Route}
			if p.bits&hasRoute != 0 {
				held.Routes[dst] = want.Routes[dst]
			}
		}
	}
	// Only the entries reported missing are diffed: the diff re-adds
	// exactly those, neighbour and FDB entries first.
	n, err := Apply(b.dp, Diff(want, held), held, ls.own.record)
	if n > 0 {
		b.log.WithField("repairs", n).Info("restored deleted kernel entries")
	}
	for _, k := range q.fdb {
		ls.learnFDB(k, held)
	}
	if len(q.fdb) > 0 { // rare: FDB entries deleted by hand; their peers may be several
		ls.recountAll()
	}
	ls.learn(keys, held)
	return n, err
}

// publish updates Status after a pass.
func (b *Backend) publish(ls *loopState, full bool, repairs int, err error) {
	ready := true
	for _, d := range b.devs {
		ready = ready && d.index != 0
	}
	b.status.update(func(s *backend.Status) {
		s.Peers, s.Desired = ls.programmed, ls.desired4
		s.Repairs += uint64(repairs)
		if full {
			s.Ready = ready && err == nil
			s.LastReconcile, s.LastError = time.Now(), err
		}
	})
}

// reportLatency calls OnPeerProgrammed for the requested changes that are
// now in the kernel (a removal counts once its entries are gone).
func (b *Backend) reportLatency(ls *loopState, full bool) {
	now := time.Now()
	if t := ls.sinceAll; !t.IsZero() && full {
		// The first peer set: every planned peer waited since t.
		for k, p := range ls.peers {
			if _, own := ls.since[k]; !own && p.bits&counted != 0 && b.opts.OnPeerProgrammed != nil {
				b.opts.OnPeerProgrammed(now.Sub(t))
			}
		}
		ls.sinceAll = time.Time{}
	}
	for sn, t := range ls.since {
		_, wanted := ls.peers[sn]
		done := ls.isProgrammedKey(sn) == wanted
		if done && b.opts.OnPeerProgrammed != nil {
			b.opts.OnPeerProgrammed(now.Sub(t))
		}
		if done || full {
			delete(ls.since, sn)
		}
	}
}
