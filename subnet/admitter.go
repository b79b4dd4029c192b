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
	l       Lease
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

// Reset replaces every lease held and returns the change from before.
func (a *Admitter) Reset(leases []Lease) Delta {
	prev := a.snapshot()
	a.reset(leases)
	return a.delta(prev, a.byKey)
}

// reset rebuilds the state from leases: O(N log N).
func (a *Admitter) reset(leases []Lease) {
	a.byKey = make(map[string]*cand, len(leases))
	a.claims = make(map[netip.Prefix][]*cand, len(leases))
	all := make([]*cand, 0, len(leases))
	for i := range leases {
		c := a.newCand(leases[i])
		if old := a.byKey[c.key]; old != nil {
			all = slices.DeleteFunc(all, func(x *cand) bool { return x == old })
		}
		a.byKey[c.key] = c
		all = append(all, c)
	}
	for _, c := range all {
		a.claim(c)
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
	leases := make([]Lease, 0, len(a.byKey))
	for _, c := range a.byKey {
		leases = append(leases, c.l)
	}
	return a.Reset(leases)
}

// Local returns what the admitter knows of this node.
func (a *Admitter) Local() Local { return a.local }

// Apply applies lease events (an EventRemoved needs only the subnets).
func (a *Admitter) Apply(evs []Event) Delta {
	prev := map[string]*cand{}
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
			prev[key] = copyCand(old)
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
			prev[c.key] = copyCand(c)
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
	return a.deltaOf(prev, cur)
}

func copyCand(c *cand) *cand {
	if c == nil {
		return nil
	}
	cp := *c
	return &cp
}

// Result returns the current admission, sorted by key.
func (a *Admitter) Result() Admission {
	keys := make([]string, 0, len(a.byKey))
	for k := range a.byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out Admission
	for _, k := range keys {
		c := a.byKey[k]
		switch {
		case c.v.admitted:
			out.Admitted = append(out.Admitted, c.l)
		case !c.v.own:
			out.Rejected = append(out.Rejected, Rejection{Lease: c.l, Reason: c.v.reason, Detail: c.v.detail})
		}
	}
	return out
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
func (a *Admitter) Admitted() []Lease { return a.Result().Admitted }

func (a *Admitter) newCand(l Lease) *cand {
	c := &cand{l: l, key: l.Key(), own: a.local.ownKey(&l)}
	if c.own {
		// Our own key holds our subnets on this node whatever it carries
		// (rewritten by someone, or a config change not yet applied): a
		// stranger's key for the same subnet must never become a peer here.
		c.valid = true
		return c
	}
	r, d, pending := checkLease(a.cfg, &l)
	c.valid, c.pending = r == "", pending
	if !c.valid {
		c.v = verdict{reason: r, detail: d}
	}
	return c
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
	if r, d := checkLocal(&a.local, &c.l); r != "" {
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

func (a *Admitter) snapshot() map[string]*cand {
	out := make(map[string]*cand, len(a.byKey))
	for k, c := range a.byKey {
		out[k] = copyCand(c)
	}
	return out
}

// delta compares verdicts before and after over the union of keys.
func (a *Admitter) delta(prev, cur map[string]*cand) Delta {
	for k := range cur {
		if _, ok := prev[k]; !ok {
			prev[k] = nil
		}
	}
	return a.deltaOf(prev, cur)
}

func (a *Admitter) deltaOf(prev, cur map[string]*cand) Delta {
	var d Delta
	// Sorted by the keys at hand: Lease.Key() formats a string per call.
	type keyed struct {
		k  string
		ev Event
	}
	var removed, added []keyed
	type keyedRejection struct {
		k string
		r Rejection
	}
	var rejected []keyedRejection
	for k, p := range prev {
		c := cur[k]
		if isRejected(p) {
			a.counts[p.v.reason]--
		}
		if isRejected(c) {
			a.counts[c.v.reason]++
		}
		wasIn := p != nil && p.v.admitted
		isIn := c != nil && c.v.admitted
		if wasIn && !isIn {
			removed = append(removed, keyed{k, RemovedEvent(p.l)})
		}
		if isIn && (!wasIn || !sameLease(p.l, c.l)) {
			added = append(added, keyed{k, Event{Type: EventAdded, Lease: c.l}})
		}
		if isRejected(c) &&
			(!isRejected(p) || p.v.reason != c.v.reason || p.v.detail != c.v.detail || !attrsEqual(p.l.Attrs, c.l.Attrs)) {
			rejected = append(rejected, keyedRejection{k, Rejection{Lease: c.l, Reason: c.v.reason, Detail: c.v.detail}})
		}
	}
	byKey := func(x, y keyed) int { return strings.Compare(x.k, y.k) }
	slices.SortFunc(removed, byKey)
	slices.SortFunc(added, byKey)
	for _, e := range slices.Concat(removed, added) {
		d.Events = append(d.Events, e.ev)
	}
	slices.SortFunc(rejected, func(x, y keyedRejection) int { return strings.Compare(x.k, y.k) })
	for _, r := range rejected {
		d.Rejected = append(d.Rejected, r.r)
	}
	return d
}

func sameLease(a, b Lease) bool {
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
