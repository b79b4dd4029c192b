// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"context"
	"errors"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/subnet"
)

// watch is one running Dataplane.Watch.
type watch struct {
	cancel  context.CancelFunc
	errc    chan error
	started time.Time
	ended   bool
	err     error
}

func (b *Backend) startWatch(ctx context.Context, updates chan<- dataplane.Update) *watch {
	wctx, cancel := context.WithCancel(ctx)
	w := &watch{cancel: cancel, errc: make(chan error, 1), started: time.Now()}
	go func() { w.errc <- b.dp.Watch(wctx, updates) }()
	return w
}

// stop cancels the watch and waits for its goroutine.
func (w *watch) stop() {
	w.cancel()
	if !w.ended {
		w.err = <-w.errc // moot once we stopped it; kept for debugging
		w.ended = true
	}
}

// Run programs own's addresses and keeps the kernel converged until ctx
// ends. Every change leads to the same step: the desired state is
// compared with the kernel's (in full on start, on resync ticks, after a
// lost notification or a device change; only the changed peers on events)
// and the difference applied. Failures are retried with backoff.
func (b *Backend) Run(ctx context.Context, own subnet.Lease) error {
	if len(b.devs) == 0 {
		return errors.New("vxlan backend: Run called before Setup")
	}
	for _, d := range b.devs {
		d.own = ownSubnet(d.fam, own)
	}
	ls := newLoopState()
	b.in.notify() // the first step reconciles in full
	// Notifications queue in the kernel's socket buffers (8 MiB each) while
	// a step runs; this buffer only smooths the hand-over (an Update is
	// about 300 bytes).
	updates := make(chan dataplane.Update, 256)
	w := b.startWatch(ctx, updates)
	defer func() { w.stop() }()
	var restart <-chan time.Time
	timer := time.NewTimer(b.opts.ResyncInterval)
	defer timer.Stop()
	retry := b.opts.RetryInterval
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.in.kick:
		case u := <-updates:
			b.onUpdate(ls, u)
			b.drain(ls, updates)
		case err := <-w.errc:
			w.ended = true
			restart = b.watchFailed(ls, w, err)
		case <-restart:
			restart = nil
			w = b.startWatch(ctx, updates)
			ls.needFull = true
		case <-timer.C:
			ls.needFull = true
		}
		full, err := b.step(ls)
		switch {
		case err != nil:
			b.log.WithError(err).WithField("retry_in", retry).Warn("reconcile failed")
			resetTimer(timer, retry)
			retry = min(retry*2, b.opts.ResyncInterval)
		case full:
			retry = b.opts.RetryInterval
			resetTimer(timer, b.opts.ResyncInterval)
		}
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	t.Stop()
	select {
	case <-t.C:
	default:
	}
	t.Reset(d)
}

// watchFailed logs a failed subscription, asks for a full resync (changes
// may have been missed) and returns when to subscribe again.
func (b *Backend) watchFailed(ls *loopState, w *watch, err error) <-chan time.Time {
	ls.needFull = true
	delay := time.Duration(0)
	if time.Since(w.started) < time.Second {
		delay = b.opts.RetryInterval
	}
	log := b.log.WithError(err)
	if errors.Is(err, dataplane.ErrOverrun) {
		log.Info("netlink notifications overrun; resyncing in full")
	} else {
		log.WithField("retry_in", delay).Warn("netlink subscription failed; resubscribing")
	}
	return time.After(delay)
}

// maxDrain bounds the updates handled between two steps.
const maxDrain = 4096

// drain handles the updates already queued, so a burst (a deleted device
// takes its thousands of entries with it) is handled in one step.
func (b *Backend) drain(ls *loopState, updates <-chan dataplane.Update) {
	for range maxDrain {
		select {
		case u := <-updates:
			b.onUpdate(ls, u)
		default:
			return
		}
	}
}

func (b *Backend) onUpdate(ls *loopState, u dataplane.Update) {
	if u.Kind != dataplane.LinkUpdate {
		ls.onEntryUpdate(u)
		return
	}
	l := u.Link
	for _, d := range b.devs {
		if d.index != 0 && l.Index == d.index {
			if u.Deleted {
				b.log.WithField("device", d.name).Warn("device deleted; re-creating it")
				d.index = 0
				ls.needFull = true
			} else if !l.Up || (l.MTU != 0 && l.MTU != d.mtu) {
				ls.needFull = true
			}
			return
		}
	}
	if l.Name != b.ext.Name && (l.Index == 0 || l.Index != ls.local.Underlay) {
		return
	}
	up := l.Up && !u.Deleted
	switch {
	case u.Deleted:
		b.log.WithField("iface", b.ext.Name).Warn("underlay deleted; waiting for it to return")
		ls.needFull = true
	case l.Index != ls.local.Underlay:
		b.log.WithFields(logrus.Fields{"iface": l.Name, "index": l.Index}).Info("underlay re-created")
		ls.needFull = true
	case up && !ls.underlayUp:
		ls.needFull = true // direct routes vanished while it was down
	}
	ls.underlayUp = up
}

// step runs the pending work: a full reconcile if needed, else the changed
// peers, then the queued repairs. full reports whether a full reconcile ran.
func (b *Backend) step(ls *loopState) (full bool, err error) {
	if ls.repairs.len() > maxRepairBatch {
		ls.needFull = true
	}
	bt := b.in.take(ls.needFull)
	if bt.underlay != nil {
		b.applyUnderlay(*bt.underlay)
	}
	if ls.sinceAll.IsZero() {
		ls.sinceAll = bt.sinceAll
	}
	for sn, t := range bt.since {
		if _, ok := ls.since[sn]; !ok && sn != b.devs[0].own { // our own lease is no peer
			ls.since[sn] = t
		}
	}
	repairs := 0
	if bt.full {
		ls.needFull = false
		start := time.Now()
		repairs, err = b.reconcileFull(ls, bt)
		if err != nil {
			ls.needFull = true
		}
		if b.opts.OnReconcile != nil {
			b.opts.OnReconcile(time.Since(start), repairs, err)
		}
	} else {
		if len(bt.changes) > 0 {
			err = b.applyChanges(ls, bt.changes)
		}
		if ls.repairs.len() > 0 {
			n, rerr := b.repair(ls)
			repairs += n
			err = errors.Join(err, rerr)
		}
	}
	b.flushPeerLog(time.Now())
	// Latencies first: whoever sees the new status (a test waiting for
	// every peer) finds them reported.
	b.reportLatency(ls, bt.full)
	b.publish(ls, bt.full, repairs, err)
	return bt.full, err
}
