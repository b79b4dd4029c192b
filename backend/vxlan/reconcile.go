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

// observe lists the kernel's tables the backend compares with its plan:
// every permanent neighbour and FDB entry on its devices and the main
// table's routes (stateOf keeps the ones weft owns).
func (b *Backend) observe(l Local) (Tables, error) {
	var t Tables
	for _, dev := range []int{l.Dev4, l.Dev6} {
		if dev == 0 {
			continue
		}
		ns, err := b.dp.Neighs(dev)
		if err != nil {
			return t, err
		}
		t.Neighs = appendOrTake(t.Neighs, ns)
		fdb, err := b.dp.FDB(dev)
		if err != nil {
			return t, err
		}
		t.FDB = appendOrTake(t.FDB, fdb)
	}
	fams := []dataplane.Family{dataplane.IPv4}
	if l.Dev6 != 0 {
		fams = append(fams, dataplane.IPv6)
	}
	for _, f := range fams {
		rs, err := b.dp.Routes(f)
		if err != nil {
			return t, err
		}
		t.Routes = appendOrTake(t.Routes, rs)
	}
	return t, nil
}

// appendOrTake appends more to s, or returns more itself when s is empty:
// a dump of 10,000 routes is not copied once more.
func appendOrTake[T any](s, more []T) []T {
	if len(s) == 0 {
		return more
	}
	return append(s, more...)
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

// reconcileFull ensures the devices, plans every peer, reads the kernel's
// tables and applies the difference, chunk by chunk as diff yields it. It
// returns the number of repairs (entries restored that the backend had
// programmed, and entries refilled into re-created devices).
func (b *Backend) reconcileFull(ls *loopState, bt batch) (int, error) {
	ls.repairs.reset()
	prev := ls.local
	repairs, recreated, planOK, devErr := b.ensureDevices(ls)
	if !planOK || !b.in.hasPeers() {
		// Before the first SetPeers an empty set means "not known yet", not
		// "no peers": a restart must not delete what it will program again.
		// What changed meanwhile is in the inbox: plan it all next time.
		ls.planned = false
		return repairs, devErr
	}
	if bt.replan || !ls.planned || !sameLocal(prev, ls.local) {
		b.replan(ls, prev)
		ls.planned = true
	} else {
		b.updatePlan(ls, bt.changes)
	}
	t, err := b.observe(ls.local)
	if err != nil {
		return repairs, errors.Join(devErr, err)
	}
	have := stateFrom(ls.local, t)
	keys := ls.sortedKeys()
	repairs += ls.learn(keys, have)
	ls.own = newOwnDeletes()
	a := newApplier(b.dp, ls.applied)
	for ops := range diff(&ls.plan, keys, have) {
		for i := range ops {
			if refills(&ops[i], recreated) {
				repairs++
			}
		}
		a.apply(ops)
	}
	ls.recountAll()
	if a.ops > 0 {
		b.log.WithFields(logrus.Fields{"ops": a.ops, "applied": a.ok, "repairs": repairs, "peers": ls.programmed}).
			Info("kernel reconciled")
	}
	// A device problem is still an error (retried, reported in Status),
	// but the peers were programmed meanwhile.
	return repairs, errors.Join(devErr, a.err())
}

// refills reports whether op adds an entry to a re-created device.
func refills(op *Op, recreated map[int]bool) bool {
	switch op.Kind {
	case OpSetNeigh:
		return recreated[op.Neigh.LinkIndex]
	case OpSetFDB:
		return recreated[op.FDB.LinkIndex]
	case OpReplaceRoute:
		return recreated[op.Route.LinkIndex]
	}
	return false
}

// replan plans every peer of the inbox afresh. What the kernel was known
// to hold carries over for the entries that did not change (learn counts
// those a dump misses as repairs).
func (b *Backend) replan(ls *loopState, prev Local) {
	old := ls.plan
	ls.plan = newPlanFor(ls.local, b.in.size())
	ls.programmed = 0
	var problems []Problem
	type came struct {
		sn netip.Prefix
		s  peerSpec
	}
	// Every peer that came is kept for its log line only where it is
	// logged: in a small step, or at debug level (a cold start plans
	// thousands of peers at weftd's peak memory).
	var cameList []came
	cameN, keepAll := 0, debugEnabled(b.log)
	b.in.each(func(sn netip.Prefix, s peerSpec) {
		if err := planSpec(ls.local, sn, &s, func(e peerEntries) { ls.addPeer(sn, e, s.rev) }); err != nil {
			problems = append(problems, Problem{Subnet: sn, Err: err})
		}
		if ls.plan.has(sn) && !old.has(sn) {
			if cameN++; cameN <= peerLogLimit || keepAll {
				cameList = append(cameList, came{sn, s})
			}
		}
	})
	b.warnProblems(ls, problems)
	// The peers that came or went with the new set (the start, a re-list,
	// lease events planned with a change of the node's devices).
	went := old.primaryKeys(func(sn netip.Prefix) bool { return !ls.plan.has(sn) })
	pl := b.peerLog(cameN + len(went))
	pl.added = cameN - len(cameList) // counted, not logged one by one
	for i := range cameList {
		pl.peer(cameList[i].sn, &cameList[i].s, false, true)
	}
	for _, sn := range went {
		pl.peer(sn, nil, true, false)
	}
	pl.done()
	for k, p := range ls.peers {
		o, ok := old.peers[k]
		if !ok {
			continue
		}
		was, now := entriesFor(prev, k, o), ls.entries(k, p)
		if !p.direct && was.Neigh == now.Neigh {
			p.bits |= o.bits & hasNeigh
		}
		if was.Route == now.Route {
			p.bits |= o.bits & hasRoute
		}
		ls.peers[k] = p
	}
	for k, f := range ls.fdb {
		if o, ok := old.fdb[k]; ok && o.dst == f.dst && o.has {
			f.has = true
			ls.fdb[k] = f
		}
	}
}

// program brings the given peers' entries in line with the plan: have is
// what the backend believes the kernel holds of them, the diff of the two
// is applied, and the outcome recorded. Events and repairs take this path;
// it makes no dump, so its work is proportional to the change, not to the
// number of peers. It returns how many operations succeeded.
func (b *Backend) program(ls *loopState, keys []netip.Prefix, have *state) (int, error) {
	have.index()
	ls.learn(keys, have)
	a := newApplier(b.dp, ls.applied)
	for ops := range diff(&ls.plan, keys, have) {
		a.apply(ops)
	}
	ls.recountPeers(keys)
	return a.ok, a.err()
}

// applyChanges reprograms only the subnets that changed.
func (b *Backend) applyChanges(ls *loopState, changes map[netip.Prefix]*peerSpec) error {
	var keys []netip.Prefix
	for sn, s := range changes {
		for _, k := range []netip.Prefix{sn, ls.v6of[sn], specV6(s)} {
			if k.IsValid() && !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	have := newState()
	for _, k := range keys {
		if p, ok := ls.peers[k]; ok {
			ls.heldInto(have, k, p)
		}
	}
	b.updatePlan(ls, changes)
	_, err := b.program(ls, keys, have)
	return err
}

// peerLogLimit bounds the peers logged one by one at info level: in one
// step, and over one Options.PeerLogWindow. A larger step (a re-list, many
// nodes rebooted at once) logs its peers at debug level and one "peers
// changed" line with the counts at info; beyond the limit in a window
// (steady churn in a large cluster), peers are logged at debug level and
// counted, and one "peers changed" line with the counts follows when the
// window ends. Otherwise every node of a 10,000-node cluster would log a
// line per peer change of the cluster.
const peerLogLimit = 16

// peerLogBudget counts the per-peer lines of the current window, and the
// peers logged at debug level only since the budget ran out.
type peerLogBudget struct {
	start          time.Time
	logged         int
	added, removed int
}

// take reports whether one more peer may be logged at info level now.
// flushPeerLog has run at now before: a window that ended holds no counts.
func (pb *peerLogBudget) take(now time.Time, window time.Duration) bool {
	if now.Sub(pb.start) >= window {
		pb.start, pb.logged = now, 0
	}
	if pb.logged < peerLogLimit {
		pb.logged++
		return true
	}
	return false
}

// flushPeerLog logs the peers counted since the budget ran out, once
// their window has ended, and starts a new window. Run calls it every
// step, so the counts come out within a resync interval of the window's
// end even if no peer changes meanwhile.
func (b *Backend) flushPeerLog(now time.Time) {
	pb := &b.budget
	if pb.added+pb.removed == 0 || now.Sub(pb.start) < b.opts.PeerLogWindow {
		return
	}
	b.log.WithFields(logrus.Fields{"added": pb.added, "removed": pb.removed, "over": now.Sub(pb.start).Round(time.Second).String()}).
		Info("peers changed")
	*pb = peerLogBudget{start: now}
}

// updatePlan re-plans the changed peers (a nil digest: removed) and logs
// those that came or went.
func (b *Backend) updatePlan(ls *loopState, changes map[netip.Prefix]*peerSpec) {
	pl := b.peerLog(len(changes))
	for sn, s := range changes {
		was := ls.plan.has(sn)
		ls.removePeer(sn)
		if v6, ok := ls.v6of[sn]; ok {
			ls.removePeer(v6)
			delete(ls.v6of, sn)
		}
		planned := false
		if s != nil {
			err := planSpec(ls.local, sn, s, func(e peerEntries) {
				ls.addPeer(sn, e, s.rev)
				planned = true
			})
			if err != nil {
				b.warnProblems(ls, []Problem{{Subnet: sn, Err: err}})
			}
		}
		pl.peer(sn, s, was, planned)
	}
	pl.done()
}

// peerLog logs the peers one step added or removed (see peerLogLimit).
type peerLog struct {
	b              *Backend
	now            time.Time
	quiet          bool // a large step: summarised by done
	added, removed int
}

// peerLog starts the log of a step that changes n subnets.
func (b *Backend) peerLog(n int) *peerLog { return b.peerLogAt(time.Now(), n) }

func (b *Backend) peerLogAt(now time.Time, n int) *peerLog {
	b.flushPeerLog(now)
	return &peerLog{b: b, now: now, quiet: n > peerLogLimit}
}

// debugEnabled reports whether l logs at debug level.
func debugEnabled(l logrus.FieldLogger) bool {
	switch l := l.(type) {
	case *logrus.Entry:
		return l.Logger.IsLevelEnabled(logrus.DebugLevel)
	case *logrus.Logger:
		return l.IsLevelEnabled(logrus.DebugLevel)
	}
	return true
}

// peer logs a peer that came or went: at info level within the budget,
// else at debug level and counted. Our own lease, reservations and
// skipped leases are no peers; fields are logged only with a value.
func (p *peerLog) peer(sn netip.Prefix, s *peerSpec, was, planned bool) {
	if !planned && !was {
		return
	}
	level := logrus.InfoLevel
	switch {
	case p.quiet:
		level = logrus.DebugLevel
		if planned {
			p.added++
		} else {
			p.removed++
		}
	case !p.b.budget.take(p.now, p.b.opts.PeerLogWindow):
		level = logrus.DebugLevel
		if planned {
			p.b.budget.added++
		} else {
			p.b.budget.removed++
		}
	}
	if planned {
		f := logrus.Fields{"subnet": sn}
		if s.public.IsValid() {
			f["public_ip"] = s.public
		}
		if !s.mac.IsZero() {
			f["vtep_mac"] = s.mac
		}
		p.b.log.WithFields(f).Log(level, "peer added")
		return
	}
	p.b.log.WithField("subnet", sn).Log(level, "peer removed")
}

// done logs a large step's counts.
func (p *peerLog) done() {
	if p.quiet && p.added+p.removed > 0 {
		p.b.log.WithFields(logrus.Fields{"added": p.added, "removed": p.removed}).Info("peers changed")
	}
}

// sameLocal reports whether two Locals plan every peer alike.
func sameLocal(a, b Local) bool {
	return a.Own4 == b.Own4 && a.Own6 == b.Own6 && a.Dev4 == b.Dev4 && a.Dev6 == b.Dev6 && a.Underlay == b.Underlay &&
		slices.Equal(a.Direct, b.Direct) && slices.Equal(a.UnderlayAddrs, b.UnderlayAddrs)
}

func specV6(s *peerSpec) netip.Prefix {
	if s == nil || s.v6 == nil {
		return netip.Prefix{}
	}
	return s.v6.subnet
}

// repair re-adds the entries the kernel reported deleted: the peers they
// belong to are diffed, as the backend believes the kernel holds them (the
// deleted entries marked missing), against the plan.
func (b *Backend) repair(ls *loopState) (int, error) {
	q := ls.repairs
	ls.repairs.reset()
	keys := ls.repairKeys(q)
	have := newState()
	for _, k := range keys {
		ls.heldInto(have, k, ls.peers[k])
	}
	n, err := b.program(ls, keys, have)
	if n > 0 {
		b.log.WithField("repairs", n).Info("restored deleted kernel entries")
	}
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
