// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package etcd

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/subnet"
)

// Re-list delays: they double from minBackoff to maxBackoff while etcd
// stays unreachable, with ±25 % jitter so that nodes spread their re-lists
// over a recovering etcd. maxBackoff is short: a list blocks until the
// client has reconnected anyway, and a longer sleep only delays the first
// change a node sees after an outage.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
	// stableAfter is how long a watch must run (or deliver events) for its
	// next failure to count as a new incident, logged and backed off anew.
	stableAfter = 30 * time.Second
)

var errWatchClosed = errors.New("watch channel closed")

// WatchLeases implements subnet.Registry. It watches SubnetsPrefix from
// rev+1 with WithRequireLeader (a member cut off from its cluster ends the
// watch instead of going silent). When the watch ends for lack of a leader
// or a closed stream it watches again, with backoff, from the last
// revision it delivered: etcd keeps that history, so nothing is missed and
// no list is needed. Only when the history is gone (compacted; an etcd
// restored from a backup with --mark-compacted says so too) does it
// re-list and deliver the difference to the lease set it tracks.
// Re-listing on every broken watch would turn one leader election into
// every node listing every lease at once: at 10,000 nodes about 19 GB out
// of etcd (Documentation/scale.md). It logs one warning per incident.
func (r *Registry) WatchLeases(ctx context.Context, known []subnet.Lease, rev int64, fn func([]subnet.Event)) error {
	w := &watcher{r: r, fn: fn, rev: rev, state: make(map[string]int64, len(known)), delay: minBackoff}
	for i := range known {
		w.remember(w.state, &known[i])
	}
	for {
		start := time.Now()
		delivered, err := w.watch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if delivered || time.Since(start) >= stableAfter {
			w.endIncident()
		}
		w.beginIncident(err)
		if !needsList(err) {
			if !w.sleep(ctx) {
				return nil
			}
			continue
		}
		w.r.watchRestarts.Add(1)
		if !w.resync(ctx) {
			return nil
		}
	}
}

// The watcher remembers of each lease the caller holds only its key and
// ModRevision: enough to tell, after a re-list, whether it changed (any
// write changes the key's ModRevision), and, since the key spells the
// lease's subnets exactly, to report its removal. Keeping no more matters
// on a large cluster: this map lives as long as weftd (at 5,000 leases a
// map of subnets too took 0.75 MB; this one 0.2 MB).

// remember records l in state. A lease whose key does not give its subnets
// back (not masked; none comes from etcd) keeps them in odd.
func (w *watcher) remember(state map[string]int64, l *subnet.Lease) {
	k := l.Key()
	state[k] = l.ModRevision
	if sn, sn6, err := subnet.ParseSubnetKey(k); err != nil || sn != l.Subnet || sn6 != l.IPv6Subnet {
		if w.odd == nil {
			w.odd = map[string][2]netip.Prefix{}
		}
		w.odd[k] = [2]netip.Prefix{l.Subnet, l.IPv6Subnet}
	}
}

// removed is the removal event of the tracked key k.
func (w *watcher) removed(k string) subnet.Event { return w.removedFrom(w.odd, k) }

func (w *watcher) removedFrom(odd map[string][2]netip.Prefix, k string) subnet.Event {
	if p, ok := odd[k]; ok {
		return subnet.RemovedEvent(subnet.Lease{Subnet: p[0], IPv6Subnet: p[1]})
	}
	sn, sn6, _ := subnet.ParseSubnetKey(k) // remember checked that it parses
	return subnet.RemovedEvent(subnet.Lease{Subnet: sn, IPv6Subnet: sn6})
}

// needsList says whether a watch that ended with err cannot resume from
// its revision: the history after it was compacted.
func needsList(err error) bool { return errors.Is(err, rpctypes.ErrCompacted) }

// watcher is the state of one WatchLeases call.
type watcher struct {
	r     *Registry
	fn    func([]subnet.Event)
	rev   int64            // last revision delivered
	state map[string]int64 // Lease.Key() to ModRevision: the set the caller holds
	odd   map[string][2]netip.Prefix

	failing  bool // an incident is under way
	resynced bool // the incident's first resync was logged
	resumed  bool // the incident's resumed watch was logged
	retries  int
	delay    time.Duration
}

// watch runs one etcd watch until it fails or ctx is done. delivered says
// whether any event came through (the watch was healthy).
func (w *watcher) watch(ctx context.Context) (delivered bool, err error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	ch := w.r.client.Watch(wctx, w.r.SubnetsPrefix(), clientv3.WithPrefix(), clientv3.WithRev(w.rev+1),
		clientv3.WithCreatedNotify())
	for resp := range ch {
		if err := resp.Err(); err != nil {
			return delivered, err
		}
		if resp.Created {
			w.created()
			continue
		}
		if len(resp.Events) == 0 {
			continue
		}
		delivered = true
		// Resume after the last event, not the header revision: a catching-up
		// watch may report the current revision with more events to come.
		w.rev = max(w.rev, resp.Events[len(resp.Events)-1].Kv.ModRevision)
		if batch := w.apply(resp.Events); len(batch) > 0 {
			w.fn(batch)
		}
	}
	return delivered, errWatchClosed
}

// apply updates the tracked set with watch events and returns the batch to
// deliver. A malformed value keeps the key's last good lease; a delete of a
// key never delivered (malformed from the start) is not reported.
func (w *watcher) apply(evs []*clientv3.Event) []subnet.Event {
	batch := make([]subnet.Event, 0, len(evs))
	for _, ev := range evs {
		if ev.Type == clientv3.EventTypePut {
			l, err := w.r.decode(ev.Kv)
			if err != nil {
				w.r.warnMalformed(ev.Kv, err)
				continue
			}
			w.remember(w.state, &l)
			batch = append(batch, subnet.Event{Type: subnet.EventAdded, Lease: l})
			continue
		}
		sn, sn6, err := subnet.ParseSubnetKey(strings.TrimPrefix(string(ev.Kv.Key), w.r.SubnetsPrefix()))
		if err != nil {
			continue
		}
		key := subnet.SubnetKey(sn, sn6)
		if _, ok := w.state[key]; ok {
			batch = append(batch, w.removed(key))
			delete(w.state, key)
			delete(w.odd, key)
		}
	}
	return batch
}

// resync re-lists until it succeeds (false if ctx ended first) and
// delivers the difference to the tracked set.
func (w *watcher) resync(ctx context.Context) bool {
	for {
		if !w.sleep(ctx) {
			return false
		}
		leases, malformed, rev, err := w.r.list(ctx, w.r.serializable)
		if err == nil {
			w.replace(leases, malformed, rev)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		w.retries++
		w.r.log.WithError(err).WithField("attempts", w.retries).Debug("re-list leases failed, retrying")
	}
}

func (w *watcher) replace(leases []subnet.Lease, malformed map[string]bool, rev int64) {
	next := make(map[string]int64, len(leases))
	prevOdd := w.odd
	w.odd = nil
	var removed, added []subnet.Event
	for i := range leases {
		l := &leases[i]
		k := l.Key()
		w.remember(next, l)
		if old, ok := w.state[k]; !ok || old != l.ModRevision {
			added = append(added, subnet.Event{Type: subnet.EventAdded, Lease: *l})
		}
	}
	for k, old := range w.state {
		if _, ok := next[k]; ok {
			continue
		}
		if malformed[k] {
			next[k] = old // unreadable now: keep the last good one, as apply does
			if p, ok := prevOdd[k]; ok {
				w.remember(next, &subnet.Lease{Subnet: p[0], IPv6Subnet: p[1], ModRevision: old})
			}
			continue
		}
		removed = append(removed, w.removedFrom(prevOdd, k))
	}
	byKey := func(a, b subnet.Event) int { return strings.Compare(a.Lease.Key(), b.Lease.Key()) }
	slices.SortFunc(removed, byKey)
	slices.SortFunc(added, byKey)
	events := append(removed, added...)
	w.state, w.rev = next, rev
	log := w.r.log.WithFields(logrus.Fields{"revision": rev, "leases": len(next), "changes": len(events)})
	if !w.resynced {
		log.Info("lease watch resynchronised by re-listing")
		w.resynced = true
	} else {
		log.Debug("lease watch resynchronised by re-listing")
	}
	if len(events) > 0 {
		w.fn(events)
	}
}

// beginIncident records a watch failure, warning once per incident.
func (w *watcher) beginIncident(err error) {
	if w.failing {
		w.r.log.WithError(err).Debug("lease watch ended again")
		w.resumed = false
		return
	}
	w.failing = true
	msg := "lease watch interrupted, resuming with backoff"
	if needsList(err) {
		msg = "lease watch interrupted, re-listing with backoff"
	}
	w.r.log.WithError(err).WithField("revision", w.rev).Warn(msg)
}

func (w *watcher) endIncident() {
	w.failing, w.resynced, w.resumed, w.retries, w.delay = false, false, false, 0, minBackoff
}

// created notes a watch etcd accepted. After an incident it tells the
// operator, once, that the watch is back without a re-list: a warning
// with no word of recovery would leave them guessing.
func (w *watcher) created() {
	if w.failing && !w.resumed {
		w.resumed = true
		w.r.log.WithField("revision", w.rev).Info("lease watch resumed")
	}
}

// sleep waits the current backoff delay and doubles it.
func (w *watcher) sleep(ctx context.Context) bool {
	t := time.NewTimer(w.delay*3/4 + rand.N(w.delay/2+1))
	defer t.Stop()
	w.delay = min(w.delay*2, maxBackoff)
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
