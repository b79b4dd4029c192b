// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package scalebench

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/nstest"
	"github.com/weft-net/weft/internal/results"
	"github.com/weft-net/weft/internal/testbin"
)

// TestScale runs the control-plane benchmark. By default (make test) it is
// small — 50 watchers, one member and the three-member cluster — and
// checks only that the machinery is right: every watcher got every put,
// every list returned every lease, every renewal succeeded. With
// WEFT_SCALE_FULL=1 (make scale-bench) it runs with WEFT_SCALE_W watchers
// (default 5,000) and writes the JSON report to WEFT_SCALE_OUT (default
// bench/results). WEFT_SCALE_MEMBERS=1 or =3 runs one topology only (to
// probe a larger W).
func TestScale(t *testing.T) {
	nstest.RequireRoot(t)
	binDir := filepath.Dir(testbin.Path(t, "weft-demo"))
	full := os.Getenv("WEFT_SCALE_FULL") != ""
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	rep := Report{
		Schema: SchemaVersion, Date: start.UTC().Format(time.RFC3339), Commit: results.Commit(), Machine: results.Machine(),
		Full: full,
	}
	rep.LeaseKey, rep.LeaseValue = leaseSample()
	for _, o := range plans(t, binDir, full) {
		top, err := Run(ctx, o)
		if err != nil {
			t.Fatalf("%d member(s): %v", o.Members, err)
		}
		check(t, top)
		rep.Topologies = append(rep.Topologies, top)
	}
	rep.Seconds = time.Since(start).Round(time.Second).Seconds()
	if !full {
		return
	}
	dir := os.Getenv("WEFT_SCALE_OUT")
	if dir == "" {
		dir = filepath.Join(testbin.RepoRoot(), "bench", "results")
	}
	name, err := rep.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("results written to %s", name)
}

func leaseSample() (string, string) {
	k, v := LeaseValue()
	return k, string(v)
}

// plans are the runs: small for make test, the measurement with
// WEFT_SCALE_FULL.
func plans(t *testing.T, binDir string, full bool) []Options {
	one := Options{BinDir: binDir, Members: 1, Watchers: 50, IdleFor: time.Second, Puts: 10, PutGap: 50 * time.Millisecond,
		ListSizes: []int{200}, KeepAliveTTL: 30 * time.Second, KeepAliveInterval: time.Second, KeepAliveFor: 2 * time.Second,
		Logf: t.Logf}
	three := one
	three.Members, three.Targets = 3, []string{"leader", "followers"}
	if !full {
		return []Options{one, three}
	}
	w := 5000
	if s := os.Getenv("WEFT_SCALE_W"); s != "" {
		var err error
		if w, err = strconv.Atoi(s); err != nil {
			t.Fatalf("WEFT_SCALE_W=%q: %v", s, err)
		}
	}
	for _, o := range []*Options{&one, &three} {
		// A put costs etcd about 80 µs of CPU per watcher and the load
		// processes as much again, all on this machine's two cores: puts
		// closer than that would measure a queue, not a delivery.
		o.Watchers, o.IdleFor, o.Puts, o.PutGap = w, 3*time.Second, 30, max(200*time.Millisecond, time.Duration(w)*200*time.Microsecond)
		o.ListSizes, o.ListClients = []int{1000, 5000}, 500
		o.KeepAliveInterval, o.KeepAliveFor = 10*time.Second, 10*time.Second
	}
	// The three-member runs list the large set only: the single member has
	// shown how the cost grows with L.
	three.ListSizes = []int{5000}
	switch os.Getenv("WEFT_SCALE_MEMBERS") {
	case "1":
		return []Options{one}
	case "3":
		return []Options{three}
	}
	return []Options{one, three}
}

// check fails the test on anything that makes the numbers meaningless.
func check(t *testing.T, top Topology) {
	t.Helper()
	for _, r := range top.Runs {
		where := strconv.Itoa(top.Members) + " member(s), " + r.Target
		if f := r.Fanout; f.MissingEvents != 0 || f.UnexpectedEvents != 0 {
			t.Errorf("%s: fan-out of %d puts to %d watchers: %d events missing, %d unexpected",
				where, f.Puts, r.Watchers, f.MissingEvents, f.UnexpectedEvents)
		}
		for _, l := range r.Lists {
			if l.Errors != 0 || l.WrongCounts != 0 {
				t.Errorf("%s: %s list of %d leases by %d clients: %d errors (first: %s), %d wrong counts",
					where, l.Mode, l.Leases, l.Clients, l.Errors, l.FirstError, l.WrongCounts)
			}
		}
		if k := r.KeepAlive; k != nil && (k.Errors != 0 || k.Renewals == 0) {
			t.Errorf("%s: keep-alive: %d renewals, %d errors (first: %s)", where, k.Renewals, k.Errors, k.FirstError)
		}
	}
	b, _ := json.MarshalIndent(top, "", "  ")
	t.Logf("%s", b)
}
