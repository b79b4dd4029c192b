// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package chaos

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/weft-net/weft/internal/results"
)

// ResultPattern matches the chaos result files in bench/results.
const ResultPattern = "chaos-*.json"

// Report is one run of the suite: every scenario on one fleet.
type Report struct {
	Date    string `json:"date"`
	Commit  string `json:"commit"`
	Machine string `json:"machine"`
	Config  Config `json:"config"`
	// SetupSeconds is building the namespaces and etcd; Seconds the
	// whole run.
	SetupSeconds float64  `json:"setupSeconds"`
	Seconds      float64  `json:"seconds"`
	Scenarios    []Result `json:"scenarios"`
}

// NewReport starts a report for cfg, dated now.
func NewReport(cfg Config) Report {
	return Report{Date: time.Now().UTC().Format(time.RFC3339), Commit: results.Commit(), Machine: results.Machine(), Config: cfg}
}

// Write stores the report as dir/chaos-<date>-<commit>.json and returns
// the path.
func (r Report) Write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	name := filepath.Join(dir, "chaos-"+time.Now().UTC().Format("2006-01-02")+"-"+r.Commit+".json")
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	return name, os.WriteFile(name, append(b, '\n'), 0o644)
}

// ReadReport reads a result file.
func ReadReport(path string) (Report, error) {
	var r Report
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Table renders the report as the markdown section of reliability.md.
func (r Report) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Commit %s, %s, on %s: %d weftd nodes, 3 etcd members, %d probed pod pairs at %d packets/s each. "+
		"Set-up %s, whole run %s.\n\n",
		r.Commit, r.Date, r.Machine, r.Config.Nodes, r.Config.Pairs, r.Config.Rate,
		time.Duration(r.SetupSeconds*float64(time.Second)).Round(time.Second),
		time.Duration(r.Seconds*float64(time.Second)).Round(time.Second))
	b.WriteString("| scenario | result | lost (established pairs) | max gap | converged | weftd CPU (all / max node) | weftd RSS (median / peak) | etcd CPU | etcd sent | idle | log lines (all / max node) |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.Scenarios {
		status := "pass"
		if !s.Pass {
			status = "**fail**"
		}
		lost := "–"
		gap := "–"
		if s.Probe.PairCount > 0 {
			lost = fmt.Sprintf("%d of %d (%d/%d pairs)", s.Probe.Lost, s.Probe.Sent, s.Probe.Established, s.Probe.PairCount)
			gap = fmt.Sprintf("%.0f ms", s.Probe.MaxGapMS)
		}
		c := s.Cost
		fmt.Fprintf(&b, "| %s: %s | %s | %s | %s | %.2f s after %s | %.1f / %.2f s | %.0f / %.0f MiB | %.1f s | %.1f MiB | %.0f %% | %d / %d |\n",
			s.Name, s.Title, status, lost, gap, s.ConvergeSeconds, s.ConvergeFrom,
			c.WeftdCPUSeconds, c.WeftdCPUMaxNode, c.WeftdRSSMedianMiB, c.WeftdPeakRSSMaxMiB,
			c.EtcdCPUSeconds, float64(c.EtcdTxBytes)/(1<<20), 100*c.IdleShare, c.LogLines, c.LogLinesMaxNode)
	}
	b.WriteString("\nScenario figures (seconds unless named otherwise):\n\n")
	for _, s := range r.Scenarios {
		if len(s.Figures) == 0 && len(s.Failures) == 0 {
			continue
		}
		keys := make([]string, 0, len(s.Figures))
		for k := range s.Figures {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %.3g", k, s.Figures[k]))
		}
		fmt.Fprintf(&b, "- %s: %s", s.Name, strings.Join(parts, ", "))
		for _, f := range s.Failures {
			fmt.Fprintf(&b, "; failed: %s", f)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// ScenarioList renders what each scenario does, from Scenarios(), for
// reliability.md: the text lives with the code that does it.
func ScenarioList() string {
	var b strings.Builder
	for _, s := range Scenarios() {
		fmt.Fprintf(&b, "- **%s** — %s. %s\n", s.Name, s.Title, s.Doc)
	}
	return b.String()
}
