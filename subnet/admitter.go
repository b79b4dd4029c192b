// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import (
	"container/heap"
	"net/netip"
	"slices"
	"strings"
)

// Admitter is Admit kept up to date by lease events: it holds every lease,
// admitted or not, so that a loser is promoted when the winner leaves. Its
// state after any sequence of Reset, Apply and SetLocal equals Admit over
// the same leases (a fuzz target checks it). An event costs O(log N) plus
// the leases whose verdict it changes. Not safe for concurrent use.
type Admitter struct {
	cfg    *Config
	local  Local
	byKey  map[string]*cand
	claims map[netip.Prefix][]*cand // stage-1-valid leases by each subnet they claim
	counts map[Reason]int           // rejected leases by reason
}

// cand is one lease and its verdict.
type cand struct {
	// l points into the slice Reset or Load was given, or at a copy of an
	// event's lease: a cand is 56 bytes instead of 280 (at 10,000 leases
	// that is 2.2 MB less at weftd's peak, and no second copy of the
	// start-up list).
	l       *Lease
	key     string
	valid   bool // passed stage 1's per-lease checks
	pending bool // a reservation without backend data
	own     bool
	won     bool // holds its subnets (stage 1 winner)
	queued  bool
	gone    bool // replaced or removed while queued
	v       verdict
}

// verdict is a lease's outcome: admitted, our own, or rejected with reason.
type verdict struct {
	admitted, own bool
	reason        Reason
	detail        string
}

// Delta is what an update changed.
type Delta struct {
	// Events are for the backend: removals first, then additions (which
	// replace a lease already held), each sorted by key.
	Events []Event
	// Rejected are leases rejected anew: newly, with another reason, or
	// with a changed value. Log each once.
	Rejected []Rejection
}

// NewAdmitter returns an Admitter for cfg and local, holding no leases.
func NewAdmitter(cfg *Config, local Local) *Admitter {
	return &Admitter{cfg: cfg, local: local, byKey: map[string]*cand{}, claims: map[netip.Prefix][]*cand{}, counts: map[Reason]int{}}
}

// Reset replaces every lease held and returns the change from before. The
// Admitter keeps pointers into leases: the caller must not change them
// afterwards.
func (a *Admitter) Reset(leases []Lease) Delta {
	prev := a.snapshot()
	a.reset(leases)
	return a.deltaOf(prev, a.byKey, true)
}

// Load is Reset for a caller that takes the whole admitted set (Admitted)
// rather than the change, as the daemon does at start: it returns only the
// leases rejected anew and builds no events, which on a fresh Admitter
// would be one more copy of every lease (5,000 at a time, each 200 bytes).
// As with Reset, the Admitter keeps pointers into leases.
func (a *Admitter) Load(leases []Lease) []Rejection {
	prev := a.snapshot()
	a.reset(leases)
	return a.deltaOf(prev, a.byKey, false).Rejected
}

// reset rebuilds the state from leases: O(N log N). A key listed twice
// keeps its last lease.
func (a *Admitter) reset(leases []Lease) {
	a.byKey = make(map[string]*cand, len(leases))
	for i := range leases {
		c := &cand{l: &leases[i]}
		c.key = c.l.Key()
		a.byKey[c.key] = c
	}
	a.decideAll()
}

// decideAll re-decides every lease held from its lease alone, in place.
func (a *Admitter) decideAll() {
	a.claims = make(map[netip.Prefix][]*cand, len(a.byKey))
	all := make([]*cand, 0, len(a.byKey))
	for _, c := range a.byKey {
		a.check(c)
		a.claim(c)
		all = append(all, c)
	}
	slices.SortFunc(all, rankCmp)
	for _, c := range all {
		c.won = c.valid && a.lowerWinner(c) == nil
	}
	for _, c := range all {
		c.v = a.decide(c)
	}
}

// SetLocal changes what the node knows of itself (our own lease, addresses,
// routes, endpoints) and re-decides every lease.
func (a *Admitter) SetLocal(local Local) Delta {
	a.local = local
	prev := a.snapshot()
	a.decideAll()
	return a.deltaOf(prev, a.byKey, true)
}

// Local returns what the admitter knows of this node.
func (a *Admitter) Local() Local { return a.local }

// Apply applies lease events (an EventRemoved needs only the subnets).
func (a *Admitter) Apply(evs []Event) Delta {
	prev := map[string]before{}
	var q candHeap
	push := func(c *cand) {
		if !c.queued {
			c.queued = true
			heap.Push(&q, c)
		}
	}
	for _, ev := range evs {
		key := ev.Lease.Key()
		old := a.byKey[key]
		if _, seen := prev[key]; !seen {
			prev[key] = beforeOf(old)
		}
		if old != nil {
			old.gone = true
			a.unclaim(old)
			delete(a.byKey, key)
			a.eachRival(old, push)
		}
		if ev.Type == EventAdded {
			c := a.newCand(ev.Lease)
			a.byKey[key] = c
			a.claim(c)
			push(c)
			a.eachRival(c, push)
		}
	}
	for q.Len() > 0 {
		c := heap.Pop(&q).(*cand)
		c.queued = false
		if c.gone {
			continue
		}
		if _, seen := prev[c.key]; !seen {
			prev[c.key] = beforeOf(c)
		}
		if won := c.valid && a.lowerWinner(c) == nil; won != c.won {
			c.won = won
			a.eachRival(c, func(r *cand) {
				if rankCmp(r, c) > 0 {
					push(r)
				}
			})
		}
	}
	cur := make(map[string]*cand, len(prev))
	for k := range prev {
		if c := a.byKey[k]; c != nil {
			c.v = a.decide(c)
			cur[k] = c
		}
	}
	return a.deltaOf(prev, cur, true)
}

// before is a key's state before an update: its lease (nil when the key
// was absent) and verdict. The lease is the held cand's own: an update
// replaces a cand whose lease changes rather than changing it, so pointing
// at it is enough (a copy of every cand cost 1.4 MB at 5,000 leases).
type before struct {
	l *Lease
	v verdict
}

func beforeOf(c *cand) before {
	if c == nil {
		return before{}
	}
	return before{l: c.l, v: c.v}
}

func (b before) rejected() bool { return b.l != nil && !b.v.admitted && !b.v.own }

// Result returns the current admission, sorted by key.
func (a *Admitter) Result() Admission {
	cs := a.sorted()
	var out Admission
	for _, c := range cs {
		if !c.v.admitted && !c.v.own {
			out.Rejected = append(out.Rejected, Rejection{Lease: *c.l, Reason: c.v.reason, Detail: c.v.detail})
		}
	}
	out.Admitted = a.admitted(cs)
	return out
}

// sorted returns the cands held, sorted by key.
func (a *Admitter) sorted() []*cand {
	cs := make([]*cand, 0, len(a.byKey))
	for _, c := range a.byKey {
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(x, y *cand) int { return strings.Compare(x.key, y.key) })
	return cs
}

// admitted copies the admitted leases of cs into a slice of their exact
// length: grown by append, 5,000 leases would allocate about five times
// their 1.1 MB on the way.
func (a *Admitter) admitted(cs []*cand) []Lease {
	n := 0
	for _, c := range cs {
		if c.v.admitted {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]Lease, 0, n)
	for _, c := range cs {
		if c.v.admitted {
			out = append(out, *c.l)
		}
	}
	return out
}

// CountAdmitted counts the admitted leases for which keep is true, without
// copying them.
func (a *Admitter) CountAdmitted(keep func(*Lease) bool) int {
	n := 0
	for _, c := range a.byKey {
		if c.v.admitted && keep(c.l) {
			n++
		}
	}
	return n
}

// Rejections counts the rejected leases by reason (a copy).
func (a *Admitter) Rejections() map[Reason]int {
	out := make(map[Reason]int, len(a.counts))
	for r, n := range a.counts {
		if n > 0 {
			out[r] = n
		}
	}
	return out
}

func isRejected(c *cand) bool { return c != nil && !c.v.admitted && !c.v.own }

// Admitted returns the admitted leases, sorted by key.
func (a *Admitter) Admitted() []Lease { return a.admitted(a.sorted()) }

func (a *Admitter) newCand(l Lease) *cand {
	c := &cand{l: &l}
	c.key = c.l.Key()
	a.check(c)
	return c
}

// check is stage 1 for c's lease alone; it resets c's verdict.
func (a *Admitter) check(c *cand) {
	c.own, c.valid, c.pending, c.v = a.local.ownKey(c.l), false, false, verdict{}
	if c.own {
		// Our own key holds our subnets on this node whatever it carries
		// (rewritten by someone, or a config change not yet applied): a
		// stranger's key for the same subnet must never become a peer here.
		c.valid = true
		return
	}
	r, d, pending := checkLease(a.cfg, c.l)
	c.valid, c.pending = r == "", pending
	if !c.valid {
		c.v = verdict{reason: r, detail: d}
	}
}

// subnets are the subnets a lease claims under the config.
func (a *Admitter) subnets(c *cand) []netip.Prefix {
	var out []netip.Prefix
	if a.cfg.EnableIPv4 && c.l.Subnet.IsValid() {
		out = append(out, c.l.Subnet)
	}
	if a.cfg.EnableIPv6 && c.l.IPv6Subnet.IsValid() {
		out = append(out, c.l.IPv6Subnet)
	}
	return out
}

func (a *Admitter) claim(c *cand) {
	if !c.valid {
		return
	}
	for _, sn := range a.subnets(c) {
		a.claims[sn] = append(a.claims[sn], c)
	}
}

func (a *Admitter) unclaim(c *cand) {
	if !c.valid {
		return
	}
	for _, sn := range a.subnets(c) {
		rest := slices.DeleteFunc(a.claims[sn], func(x *cand) bool { return x == c })
		if len(rest) == 0 {
			delete(a.claims, sn)
		} else {
			a.claims[sn] = rest
		}
	}
}

// eachRival calls fn for every other lease claiming one of c's subnets.
func (a *Admitter) eachRival(c *cand, fn func(*cand)) {
	if !c.valid {
		return
	}
	for _, sn := range a.subnets(c) {
		for _, r := range a.claims[sn] {
			if r != c {
				fn(r)
			}
		}
	}
}

// lowerWinner returns a winner ranked before c that holds one of c's
// subnets (the oldest such), or nil.
func (a *Admitter) lowerWinner(c *cand) *cand {
	var best *cand
	a.eachRival(c, func(r *cand) {
		if r.won && rankCmp(r, c) < 0 && (best == nil || rankCmp(r, best) < 0) {
			best = r
		}
	})
	return best
}

func (a *Admitter) decide(c *cand) verdict {
	switch {
	case c.own:
		return verdict{own: true}
	case !c.valid:
		return c.v
	case !c.won:
		w := a.lowerWinner(c)
		if w.own {
			return verdict{reason: ReasonDuplicate, detail: "subnet held by this node's own key " + w.key}
		}
		return verdict{reason: ReasonDuplicate, detail: "subnet held by the older key " + w.key}
	case c.pending:
		return verdict{admitted: true}
	}
	if r, d := checkLocal(&a.local, c.l); r != "" {
		return verdict{reason: r, detail: d}
	}
	return verdict{admitted: true}
}

// rankCmp orders leases for duplicate resolution: our own first, then by
// creation revision, then by key.
func rankCmp(x, y *cand) int {
	if x.own != y.own {
		if x.own {
			return -1
		}
		return 1
	}
	if c := x.l.CreateRevision - y.l.CreateRevision; c != 0 {
		if c < 0 {
			return -1
		}
		return 1
	}
	return strings.Compare(x.key, y.key)
}

func (a *Admitter) snapshot() map[string]before {
	out := make(map[string]before, len(a.byKey))
	for k, c := range a.byKey {
		out[k] = beforeOf(c)
	}
	return out
}

// deltaOf compares verdicts before and after over the keys of prev and of
// cur, keeps the rejection counts, and lists the events when withEvents.
func (a *Admitter) deltaOf(prev map[string]before, cur map[string]*cand, withEvents bool) Delta {
	// Sorted by the keys at hand (Lease.Key() formats a string per call);
	// the leases are pointed at, copied once into the events.
	type change struct {
		k string
		l *Lease
	}
	var removed, added []change
	var rejected []*cand
	visit := func(k string, p before, c *cand) {
		if p.rejected() {
			a.counts[p.v.reason]--
		}
		if isRejected(c) {
			a.counts[c.v.reason]++
		}
		wasIn := p.l != nil && p.v.admitted
		isIn := c != nil && c.v.admitted
		if withEvents && wasIn && !isIn {
			removed = append(removed, change{k, p.l})
		}
		if withEvents && isIn && (!wasIn || !sameLease(p.l, c.l)) {
			added = append(added, change{k, c.l})
		}
		if isRejected(c) &&
			(!p.rejected() || p.v.reason != c.v.reason || p.v.detail != c.v.detail || !attrsEqual(p.l.Attrs, c.l.Attrs)) {
			rejected = append(rejected, c)
		}
	}
	for k, p := range prev {
		visit(k, p, cur[k])
	}
	for k, c := range cur {
		if _, ok := prev[k]; !ok {
			visit(k, before{}, c)
		}
	}
	var d Delta
	byKey := func(x, y change) int { return strings.Compare(x.k, y.k) }
	slices.SortFunc(removed, byKey)
	slices.SortFunc(added, byKey)
	if n := len(removed) + len(added); n > 0 {
		d.Events = make([]Event, 0, n)
	}
	for _, e := range removed {
		d.Events = append(d.Events, RemovedEvent(*e.l))
	}
	for _, e := range added {
		d.Events = append(d.Events, Event{Type: EventAdded, Lease: *e.l})
	}
	slices.SortFunc(rejected, func(x, y *cand) int { return strings.Compare(x.key, y.key) })
	for _, c := range rejected {
		d.Rejected = append(d.Rejected, Rejection{Lease: *c.l, Reason: c.v.reason, Detail: c.v.detail})
	}
	return d
}

func sameLease(a, b *Lease) bool {
	return a.ModRevision == b.ModRevision && a.LeaseID == b.LeaseID && attrsEqual(a.Attrs, b.Attrs)
}

// candHeap orders pending re-evaluations by rank.
type candHeap []*cand

func (h candHeap) Len() int           { return len(h) }
func (h candHeap) Less(i, j int) bool { return rankCmp(h[i], h[j]) < 0 }
func (h candHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *candHeap) Push(x any)        { *h = append(*h, x.(*cand)) }
func (h *candHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}
