// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/weft-net/weft/backend"
	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

// maxRepairBatch is how many individually reported deletions are repaired
// one by one; beyond it a full reconcile is cheaper and surer.
const maxRepairBatch = 256

// reconcileFull ensures the devices, plans every lease, compares with the
// kernel's tables and applies the difference. It returns the number of
// repairs (entries restored that the backend had programmed, and devices
// re-created).
func (b *Backend) reconcileFull(ls *loopState, leases []subnet.Lease) (int, error) {
	ls.repairs.reset()
	repairs, recreated, err := b.ensureDevices(ls)
	if err != nil {
		return repairs, err
	}
	peers, problems := Plan(ls.local, leases)
	b.warnProblems(ls, problems)
	ls.leases = make(map[netip.Prefix]subnet.Lease, len(leases))
	for _, l := range leases {
		ls.leases[l.Subnet] = l
	}
	ls.replacePeers(peers)
	observed, err := b.observe(ls.local)
	if err != nil {
		return repairs, err
	}
	ops := Diff(ls.want, observed)
	for _, op := range ops {
		if isRepair(op, ls.applied, recreated) {
			repairs++
		}
	}
	ls.applied, ls.own = observed, newOwnDeletes()
	n, err := Apply(b.dp, ops, ls.applied, ls.own.record)
	clear(ls.programmed)
	for k := range ls.peers {
		ls.markProgrammed(k)
	}
	if len(ops) > 0 {
		b.log.WithFields(logrus.Fields{"ops": len(ops), "applied": n, "repairs": repairs, "peers": len(ls.programmed)}).
			Info("kernel reconciled")
	}
	return repairs, err
}

// isRepair reports whether an add op restores an entry the backend had
// programmed (it matches applied before the dump replaced it) or refills a
// re-created device.
func isRepair(op Op, applied State, recreated map[int]bool) bool {
	switch op.Kind {
	case OpSetNeigh:
		n, ok := applied.Neighs[neighKey(op.Neigh)]
		return (ok && n == op.Neigh) || recreated[op.Neigh.LinkIndex]
	case OpSetFDB:
		e, ok := applied.FDB[fdbKey(op.FDB)]
		return (ok && e == op.FDB) || recreated[op.FDB.LinkIndex]
	case OpReplaceRoute:
		for _, r := range applied.Routes[op.Route.Dst] {
			if r == op.Route {
				return true
			}
		}
		return recreated[op.Route.LinkIndex]
	}
	return false
}

// ensureDevices finds the underlay, ensures every device and its address,
// and refreshes ls.local.
func (b *Backend) ensureDevices(ls *loopState) (repairs int, recreated map[int]bool, err error) {
	underlay, err := b.underlay()
	if err != nil {
		for _, d := range b.devs {
			d.index = 0
		}
		ls.local.Dev4, ls.local.Dev6 = 0, 0
		return 0, nil, err
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
	ls.local = Local{Own4: b.devs[0].own, Dev4: b.devs[0].index, Underlay: underlay.Index}
	if len(b.devs) > 1 {
		ls.local.Own6, ls.local.Dev6 = b.devs[1].own, b.devs[1].index
	}
	if b.cfg.DirectRouting {
		if ls.local.Direct, err = b.dp.Addrs(underlay.Index); err != nil {
			errs = append(errs, err)
		}
	}
	return repairs, recreated, errors.Join(errs...)
}

// observe reads what the backend owns in the kernel: every permanent
// neighbour and FDB entry on its devices, the routes carrying
// RouteProtocol, and routes on its devices with the default protocol
// (flanneld's, adopted on a node switched from it).
func (b *Backend) observe(l Local) (State, error) {
	s := NewState()
	devs := map[int]bool{}
	for _, dev := range []int{l.Dev4, l.Dev6} {
		if dev == 0 {
			continue
		}
		devs[dev] = true
		ns, err := b.dp.Neighs(dev)
		if err != nil {
			return s, err
		}
		for _, n := range ns {
			s.Neighs[neighKey(n)] = n
		}
		fdb, err := b.dp.FDB(dev)
		if err != nil {
			return s, err
		}
		for _, e := range fdb {
			s.FDB[fdbKey(e)] = e
		}
	}
	fams := []dataplane.Family{dataplane.IPv4}
	if l.Dev6 != 0 {
		fams = append(fams, dataplane.IPv6)
	}
	for _, f := range fams {
		rs, err := b.dp.Routes(f)
		if err != nil {
			return s, err
		}
		for _, r := range rs {
			if r.Protocol == RouteProtocol || (devs[r.LinkIndex] && r.Protocol == dataplane.RTProtoBoot) {
				r.Src = netip.Addr{}
				s.Routes[r.Dst] = append(s.Routes[r.Dst], r)
			}
		}
	}
	return s, nil
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
// proportional to the change, not to the number of peers.
func (b *Backend) applyChanges(ls *loopState, changes map[netip.Prefix]*subnet.Lease) error {
	var touched []PeerEntries
	var keys []netip.Prefix
	for sn, le := range changes {
		old := ls.leases[sn]
		var planned map[netip.Prefix]PeerEntries
		if le != nil {
			var problems []Problem
			planned, problems = Plan(ls.local, []subnet.Lease{*le})
			b.warnProblems(ls, problems)
			ls.leases[sn] = *le
		} else {
			delete(ls.leases, sn)
		}
		for _, k := range []netip.Prefix{sn, old.IPv6Subnet, leaseV6(le)} {
			if !k.IsValid() {
				continue
			}
			if e, ok := ls.peers[k]; ok {
				touched = append(touched, e)
			}
			e, ok := planned[k]
			ls.setPeer(k, e, ok)
			if ok {
				touched = append(touched, e)
			}
			keys = append(keys, k)
		}
		b.logPeer(le, sn)
	}
	ops := Diff(ls.want.subset(touched...), ls.applied.subset(touched...))
	_, err := Apply(b.dp, ops, ls.applied, ls.own.record)
	ls.markProgrammed(keys...)
	return err
}

func leaseV6(l *subnet.Lease) netip.Prefix {
	if l == nil {
		return netip.Prefix{}
	}
	return l.IPv6Subnet
}

func (b *Backend) logPeer(l *subnet.Lease, sn netip.Prefix) {
	if l == nil {
		b.log.WithField("subnet", sn).Info("peer removed")
		return
	}
	f := logrus.Fields{"subnet": sn, "public_ip": l.Attrs.PublicIP}
	if d, err := subnet.DecodeVXLANData(l.Attrs.BackendData); err == nil {
		f["vtep_mac"] = d.VtepMAC
	}
	b.log.WithFields(f).Info("peer added")
}

// repair re-adds the entries the kernel reported deleted.
func (b *Backend) repair(ls *loopState) (int, error) {
	q := ls.repairs
	ls.repairs.reset()
	ops := Diff(q.restrict(ls.want), q.restrict(ls.applied))
	n, err := Apply(b.dp, ops, ls.applied, ls.own.record)
	if n > 0 {
		b.log.WithField("repairs", n).Info("restored deleted kernel entries")
	}
	ls.markProgrammed(q.subnets(ls)...)
	return n, err
}

// publish updates Status after a pass.
func (b *Backend) publish(ls *loopState, full bool, repairs int, err error) {
	ready := true
	for _, d := range b.devs {
		ready = ready && d.index != 0
	}
	b.status.update(func(s *backend.Status) {
		s.Peers, s.Desired = len(ls.programmed), ls.desired4
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
	if len(ls.since) == 0 {
		return
	}
	now := time.Now()
	for sn, t := range ls.since {
		_, wanted := ls.peers[sn]
		done := ls.programmed[sn] == wanted
		if done && b.opts.OnPeerProgrammed != nil {
			b.opts.OnPeerProgrammed(now.Sub(t))
		}
		if done || full {
			delete(ls.since, sn)
		}
	}
}
