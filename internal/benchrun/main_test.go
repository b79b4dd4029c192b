// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	out := `goos: linux
pkg: github.com/weft-net/weft/e2e
BenchmarkClusterColdStart/peers=100-2   	       1	         0.03 cpu-s	         0.05 weft-s
BenchmarkClusterColdStart/peers=100-2   	       1	         0.01 cpu-s	         0.04 weft-s
--- BENCH: BenchmarkClusterColdStart/peers=100-2
    bench_test.go:1: a log line
BenchmarkClusterColdStart/peers=100-2   	       1	         0.02 cpu-s	         0.06 weft-s
ok  	github.com/weft-net/weft/e2e	3.4s
pkg: github.com/weft-net/weft/subnet/etcd
BenchmarkListLeases5000-2   	       1	  22903238 ns/op	      4581 ns/lease
`
	want := []Result{
		{
			Package: "github.com/weft-net/weft/e2e", Name: "BenchmarkClusterColdStart/peers=100", Runs: 3,
			Metrics: map[string][]float64{"cpu-s": {0.03, 0.01, 0.02}, "weft-s": {0.05, 0.04, 0.06}},
			Summary: map[string]Summary{"cpu-s": {0.01, 0.02, 0.03}, "weft-s": {0.04, 0.05, 0.06}},
		},
		{
			Package: "github.com/weft-net/weft/subnet/etcd", Name: "BenchmarkListLeases5000", Runs: 1,
			Metrics: map[string][]float64{"ns/op": {22903238}, "ns/lease": {4581}},
			Summary: map[string]Summary{"ns/op": {22903238, 22903238, 22903238}, "ns/lease": {4581, 4581, 4581}},
		},
	}
	if diff := cmp.Diff(want, parse(strings.NewReader(out))); diff != "" {
		t.Errorf("parse (-want +got):\n%s", diff)
	}
}

func TestStats(t *testing.T) {
	tests := []struct {
		name        string
		in          []float64
		lo, med, hi float64
	}{
		{"one", []float64{2}, 2, 2, 2},
		{"three unsorted", []float64{3, 1, 2}, 1, 2, 3},
		{"four: upper median", []float64{4, 1, 3, 2}, 1, 3, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lo, med, hi := stats(tt.in)
			if diff := cmp.Diff([]float64{tt.lo, tt.med, tt.hi}, []float64{lo, med, hi}); diff != "" {
				t.Errorf("stats(%v) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}
