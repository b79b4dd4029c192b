// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/nstest"
	"github.com/weft-net/weft/internal/testbin"
)

// TestChaos runs every scenario on one fleet. By default it is the small
// version (6 nodes, short outages) that `make test` runs; CHAOS_N=100
// (`make chaos`) runs the full version with N nodes. CHAOS_OUT
// names the directory for the JSON result (default: a temp dir).
func TestChaos(t *testing.T) {
	nstest.RequireRoot(t)
	for _, b := range []string{"weftd", "weft", "weft-demo"} {
		testbin.Path(t, b) // skips under -short
	}
	testbin.CNIPlugin(t, "bridge")
	cfg := Small()
	if s := os.Getenv("CHAOS_N"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 2 || n > 199 {
			t.Fatalf("CHAOS_N=%q: want 2..199 nodes", s)
		}
		cfg = Full(n)
	}
	out := os.Getenv("CHAOS_OUT")
	if out == "" {
		out = t.TempDir()
	}
	ctx := context.Background()
	rep := NewReport(cfg)
	start := time.Now()
	dir := t.TempDir()
	f, err := NewFleet(ctx, cfg, Options{
		BinDir: testbin.Dir(), CNIPath: testbin.CNIPath(),
		ConfList: filepath.Join(testbin.RepoRoot(), "dist", "cni", "10-weft.conflist"), Dir: dir, Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogTails(t, f)
		}
		if err := f.Close(); err != nil {
			t.Errorf("fleet teardown: %v", err)
		}
	})
	rep.SetupSeconds = time.Since(start).Seconds()
	started := false
	for _, s := range Scenarios() {
		t.Run(s.Name, func(t *testing.T) {
			if s.NoProbe {
				started = true
			} else if !started {
				t.Fatal("the fleet did not start (cold start scenario failed or was filtered out)")
			}
			res := f.RunScenario(ctx, s)
			rep.Scenarios = append(rep.Scenarios, res)
			fmt.Print(res.Summary())
			if !res.Pass {
				t.Errorf("%s failed: %v", s.Name, res.Failures)
			}
		})
	}
	rep.Seconds = time.Since(start).Seconds()
	path, err := rep.Write(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("results written to %s", path)
}

// dumpLogTails prints the end of each weftd log, for a failed run.
func dumpLogTails(t *testing.T, f *Fleet) {
	for _, n := range f.C.Nodes {
		b, _ := os.ReadFile(n.LogFile())
		s := string(b)
		if len(s) > 3000 {
			s = "...\n" + s[len(s)-3000:]
		}
		t.Logf("==== %s ====\n%s", n.Name, s)
	}
}
