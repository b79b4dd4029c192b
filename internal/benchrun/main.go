// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Command benchrun runs weft's Go benchmarks (`make bench`) and records the
// results, with the machine, date and commit, in
// bench/results/<date>-<commit>.json. With -doc it regenerates the results
// table in Documentation/benchmarks.md from the newest result file, a
// deliberate step (`make bench-doc`) so that the doc changes only when
// someone means it to.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/weft-net/weft/internal/benchfile"
)

// schemaVersion is the version of the result file format. Fields are only
// ever added; a change to an existing field's meaning bumps it.
const schemaVersion = 2

// Result is one benchmark's numbers over all runs.
type Result struct {
	Package string               `json:"package"`
	Name    string               `json:"name"`
	Runs    int                  `json:"runs"`
	Metrics map[string][]float64 `json:"metrics"` // unit → value per run
	// Summary is min, median and max of each metric over the runs.
	Summary map[string]Summary `json:"summary,omitempty"`
}

// Summary condenses one metric's runs.
type Summary struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

// Report is one `make bench` run.
type Report struct {
	Schema  int      `json:"schema,omitempty"` // absent in version 1 files
	Date    string   `json:"date"`
	Commit  string   `json:"commit"`
	Machine string   `json:"machine"`
	Command string   `json:"command,omitempty"`
	Seconds float64  `json:"seconds,omitempty"` // wall time of the whole run
	Results []Result `json:"results"`
}

func main() {
	out := flag.String("out", "", "directory to write the result JSON into")
	doc := flag.String("doc", "", "markdown file whose generated table to refresh")
	in := flag.String("in", "bench/results", "directory of result files (with -doc)")
	count := flag.Int("count", 3, "runs per benchmark")
	pkgs := flag.String("pkgs", "./...", "packages to benchmark")
	bench := flag.String("bench", ".", "regexp of the benchmarks to run (go test -bench)")
	flag.Parse()
	var err error
	switch {
	case *doc != "":
		err = refreshDoc(*doc, *in)
	case *out != "":
		err = runAll(*out, *pkgs, *bench, *count)
	default:
		err = fmt.Errorf("give -out DIR or -doc FILE")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

func runAll(outDir, pkgs, bench string, count int) error {
	// -p 1: one package's benchmarks at a time, so that they do not share
	// the machine's cores with another package's. The timeout is per
	// package: e2e's BenchmarkEtcdReconnect alone takes about 6 minutes a
	// run (two 150 s etcd outages), 18 with -count 3;
	// WEFT_BENCH_RECONNECT=short (10 s outages only) or =off trims it.
	args := []string{"test", "-p", "1", "-run", "^$", "-bench", bench, "-benchtime", "1x",
		"-count", strconv.Itoa(count), "-timeout", "60m", pkgs}
	cmd := exec.Command("go", args...)
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(os.Stdout, &buf)
	cmd.Stderr = os.Stderr
	start := time.Now()
	runErr := cmd.Run()
	rep := Report{
		Schema: schemaVersion, Date: start.UTC().Format(time.RFC3339), Commit: benchfile.Commit(), Machine: benchfile.Machine(),
		Command: "go " + strings.Join(args, " "), Seconds: time.Since(start).Round(time.Second).Seconds(),
		Results: parse(&buf),
	}
	if len(rep.Results) == 0 {
		return fmt.Errorf("no benchmark results (go test: %w)", runErr)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	name := filepath.Join(outDir, time.Now().UTC().Format("2006-01-02")+"-"+rep.Commit+".json")
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(name, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Println("results written to", name)
	if runErr != nil {
		return fmt.Errorf("some benchmarks failed: %w", runErr)
	}
	return nil
}

// parse reads `go test -bench` output: "pkg: X" lines and benchmark lines of
// name, iterations, then value/unit pairs.
func parse(r io.Reader) []Result {
	byKey := map[string]*Result{}
	var order []string
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i] // drop the GOMAXPROCS suffix
		}
		k := pkg + " " + name
		res, ok := byKey[k]
		if !ok {
			res = &Result{Package: pkg, Name: name, Metrics: map[string][]float64{}}
			byKey[k] = res
			order = append(order, k)
		}
		res.Runs++
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				res.Metrics[f[i+1]] = append(res.Metrics[f[i+1]], v)
			}
		}
	}
	out := make([]Result, 0, len(order))
	for _, k := range order {
		r := byKey[k]
		r.Summary = make(map[string]Summary, len(r.Metrics))
		for u, v := range r.Metrics {
			lo, med, hi := stats(v)
			r.Summary[u] = Summary{Min: lo, Median: med, Max: hi}
		}
		out = append(out, *r)
	}
	return out
}

const (
	beginMark = "<!-- BEGIN GENERATED: make bench-doc -->"
	endMark   = "<!-- END GENERATED -->"
)

func refreshDoc(docPath, inDir string) error {
	// Other result files (scale-*.json) share the directory: `make bench`
	// names its own by date.
	newest, err := benchfile.Newest(inDir, "[0-9]*.json")
	if err != nil {
		return fmt.Errorf("%w: run make bench first", err)
	}
	b, err := os.ReadFile(newest)
	if err != nil {
		return err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", newest, err)
	}
	var t strings.Builder
	fmt.Fprintf(&t, "%s\nCommit %s, %s, on %s. Each cell: min / median / max over %s.",
		beginMark, rep.Commit, rep.Date, rep.Machine, "the runs")
	if rep.Seconds > 0 {
		fmt.Fprintf(&t, " The whole run took %s.", time.Duration(rep.Seconds)*time.Second)
	}
	t.WriteString("\n\n")
	t.WriteString("| benchmark | metric | min | median | max |\n|---|---|---|---|---|\n")
	for _, r := range rep.Results {
		units := make([]string, 0, len(r.Metrics))
		for u := range r.Metrics {
			units = append(units, u)
		}
		sort.Strings(units)
		for _, u := range units {
			lo, med, hi := stats(r.Metrics[u])
			fmt.Fprintf(&t, "| %s %s | %s | %s | %s | %s |\n", filepath.Base(r.Package), r.Name, u, num(lo), num(med), num(hi))
		}
	}
	t.WriteString(endMark)
	return benchfile.Splice(docPath, beginMark, endMark, t.String(), "## Latest `make bench` run")
}

func stats(v []float64) (lo, med, hi float64) {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[0], s[len(s)/2], s[len(s)-1]
}

func num(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
