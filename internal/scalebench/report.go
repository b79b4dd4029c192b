// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package scalebench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// SchemaVersion is the version of the scale result format. Fields are only
// ever added; a change to an existing field's meaning bumps it.
const SchemaVersion = 1

// Report is one `make scale-bench` run.
type Report struct {
	Schema  int     `json:"schema"`
	Date    string  `json:"date"`
	Commit  string  `json:"commit"`
	Machine string  `json:"machine"`
	Seconds float64 `json:"seconds"`
	Full    bool    `json:"full"`
	// LeaseKey and LeaseValue are a sample of what the benchmark writes:
	// a vxlan node's lease as flanneld and weftd write it.
	LeaseKey   string     `json:"lease_key"`
	LeaseValue string     `json:"lease_value"`
	Topologies []Topology `json:"topologies"`
}

// ResultPattern matches the scale result files in a results directory.
const ResultPattern = "scale-*.json"

// Write stores the report as dir/scale-<date>-<commit>.json.
func (r Report) Write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("scale report: %w", err)
	}
	name := filepath.Join(dir, "scale-"+time.Now().UTC().Format("2006-01-02")+"-"+r.Commit+".json")
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("scale report: %w", err)
	}
	if err := os.WriteFile(name, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("scale report: %w", err)
	}
	return name, nil
}
