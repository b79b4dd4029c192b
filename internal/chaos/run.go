// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package chaos

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/weft-net/weft/internal/cluster"
)

// Result is one scenario's measurements.
type Result struct {
	Name  string `json:"name"`  // a..j and a short tag, e.g. "c-leader-killed"
	Title string `json:"title"` // one line for the table
	Nodes int    `json:"nodes"`
	Pass  bool   `json:"pass"`
	// Failures say why the scenario failed: established pairs that lost
	// packets, kernels that differ from etcd at the end, a step that
	// errored.
	Failures []string `json:"failures,omitempty"`
	Seconds  float64  `json:"seconds"` // the whole scenario
	// ConvergeSeconds runs from the scenario's reference moment (the
	// fault, or its repair for an outage: see ConvergeFrom) until every
	// running node's kernel was seen equal to etcd's view.
	ConvergeSeconds float64 `json:"convergeSeconds"`
	ConvergeFrom    string  `json:"convergeFrom"`
	// Figures are the scenario's own numbers (join p50, cold start...),
	// in seconds unless the name says otherwise.
	Figures map[string]float64 `json:"figures,omitempty"`
	Probe   ProbeSummary       `json:"probe"`
	Cost    Cost               `json:"cost"`
	Notes   []string           `json:"notes,omitempty"`
}

// ProbeSummary sums the pairs; MaxGapMS and Lost are over the
// established pairs only.
type ProbeSummary struct {
	PairCount   int          `json:"pairCount"`
	Established int          `json:"established"`
	Sent        int          `json:"sent"`
	Lost        int          `json:"lost"`
	LostAll     int          `json:"lostAllPairs"` // with the pairs of nodes that went down
	MaxGapMS    float64      `json:"maxGapMs"`
	Pairs       []PairResult `json:"pairs"`
}

// Run is a scenario in progress: what the scenario function reports
// besides its error.
type Run struct {
	f       *Fleet
	res     *Result
	down    map[string]bool
	ref     time.Time
	refName string
}

// NodeDown marks a node as not staying up: its pairs are not established.
func (r *Run) NodeDown(name string) { r.down[name] = true }

// ConvergeFrom sets the moment convergence is timed from (default: the
// scenario's start), named for the report.
func (r *Run) ConvergeFrom(what string, t time.Time) { r.ref, r.refName = t, what }

// Figure records one of the scenario's own numbers.
func (r *Run) Figure(name string, v float64) { r.res.Figures[name] = v }

// Note adds a line to the report.
func (r *Run) Note(format string, args ...any) {
	r.res.Notes = append(r.res.Notes, fmt.Sprintf(format, args...))
}

// Fail records a failure without ending the scenario.
func (r *Run) Fail(format string, args ...any) {
	r.res.Failures = append(r.res.Failures, fmt.Sprintf(format, args...))
}

// Scenario is one fault, its repair and what it checks beyond the common
// measurements.
type Scenario struct {
	Name, Title string
	// Doc says what happens and what an operator sees, for reliability.md.
	Doc string
	// NoProbe is for scenarios that run before the pods exist.
	NoProbe bool
	Do      func(ctx context.Context, f *Fleet, r *Run) error
}

// RunScenario runs one scenario on the fleet: probes on, the fault and its
// repair, the wait for convergence, probes off, and the fleet restored (a
// node left without a pod gets one). It never stops at the first problem:
// the result lists every failure.
func (f *Fleet) RunScenario(ctx context.Context, s Scenario) Result {
	res := Result{Name: s.Name, Title: s.Title, Nodes: f.Cfg.Nodes, Figures: map[string]float64{}}
	r := &Run{f: f, res: &res, down: map[string]bool{}, refName: "fault"}
	var pr *Prober
	if !s.NoProbe {
		var err error
		if pr, err = f.StartProber(ctx, PickPairs(f.Members(), f.Cfg.Pairs, f.Cfg.Seed)); err != nil {
			res.Failures = append(res.Failures, "probe start: "+err.Error())
			return res
		}
	}
	before := f.snapshot()
	r.ref = before.at
	if err := s.Do(ctx, f, r); err != nil {
		r.Fail("%v", err)
	}
	at, err := f.WaitConverged(ctx)
	if err != nil {
		r.Fail("%v", err)
	}
	res.ConvergeSeconds, res.ConvergeFrom = at.Sub(r.ref).Seconds(), r.refName
	f.checkMembers(ctx, r)
	after := f.snapshot()
	// One more second of traffic on the converged fleet: a late loss
	// (a flush after convergence) shows too.
	if pr != nil {
		time.Sleep(time.Second)
		res.Probe = summarize(pr.Stop(r.down))
	}
	res.Seconds = time.Since(before.at).Seconds()
	res.Cost = cost(before, after)
	for _, p := range res.Probe.Pairs {
		if p.Established && p.Lost > 0 {
			r.Fail("established pair %s->%s lost %d of %d packets (max gap %.0f ms)", p.Src, p.Dst, p.Lost, p.Sent, p.MaxGapMS)
		}
	}
	// Restore the fleet after a scenario that failed half-way.
	if err := f.each(f.Members(), func(n *cluster.Node) error {
		if n.WeftdPID() != 0 {
			return nil
		}
		f.dropPod(n)
		if err := n.StartWeftd(); err != nil {
			return err
		}
		return n.WaitReady(ctx)
	}); err != nil {
		r.Fail("restore weftd: %v", err)
	}
	if err := f.AddPods(ctx); err != nil {
		r.Fail("restore pods: %v", err)
	}
	res.Pass = len(res.Failures) == 0
	return res
}

// checkMembers fails the run unless every member's weftd runs and holds
// the lease its subnet.env names: a scenario must not cost a node its
// daemon or its subnet.
func (f *Fleet) checkMembers(ctx context.Context, r *Run) {
	v, err := f.readEtcd(ctx)
	if err != nil {
		r.Fail("members: %v", err)
		return
	}
	held := map[netip.Addr]netip.Prefix{}
	for _, l := range v.leases {
		held[l.Attrs.PublicIP] = l.Subnet
	}
	for _, n := range f.Members() {
		if n.WeftdPID() == 0 {
			r.Fail("%s: weftd is not running", n.Name)
			continue
		}
		sn, err := subnetOf(n)
		switch {
		case err != nil:
			r.Fail("%v", err)
		case held[n.IP] != sn:
			r.Fail("%s: subnet.env names %s, etcd holds %v for %s", n.Name, sn, held[n.IP], n.IP)
		}
	}
}

func summarize(pairs []PairResult) ProbeSummary {
	s := ProbeSummary{PairCount: len(pairs), Pairs: pairs}
	for _, p := range pairs {
		s.LostAll += p.Lost
		if !p.Established {
			continue
		}
		s.Established++
		s.Sent += p.Sent
		s.Lost += p.Lost
		s.MaxGapMS = max(s.MaxGapMS, p.MaxGapMS)
	}
	return s
}

// Summary is the result in a few lines for the test log.
func (r Result) Summary() string {
	var b strings.Builder
	status := "PASS"
	if !r.Pass {
		status = "FAIL"
	}
	fmt.Fprintf(&b, "%s %s (%d nodes, %.1fs): %s\n", status, r.Name, r.Nodes, r.Seconds, r.Title)
	fmt.Fprintf(&b, "  converged %.2fs after the %s; probes: %d/%d pairs established, lost %d of %d (all pairs %d), max gap %.0f ms\n",
		r.ConvergeSeconds, r.ConvergeFrom, r.Probe.Established, r.Probe.PairCount, r.Probe.Lost, r.Probe.Sent, r.Probe.LostAll, r.Probe.MaxGapMS)
	if len(r.Figures) > 0 {
		keys := make([]string, 0, len(r.Figures))
		for k := range r.Figures {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(" ")
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%.3g", k, r.Figures[k])
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  %s\n", r.Cost)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "  FAIL: %s\n", f)
	}
	return b.String()
}
