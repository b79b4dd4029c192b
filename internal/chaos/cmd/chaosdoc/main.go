// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Command chaosdoc regenerates the measured table of
// Documentation/reliability.md from the newest chaos result
// (bench/results/chaos-*.json), a deliberate step (`make chaos-doc`) so
// that the doc changes only when someone means it to.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/weft-net/weft/internal/chaos"
	"github.com/weft-net/weft/internal/results"
)

func main() {
	doc := flag.String("doc", "Documentation/reliability.md", "markdown file whose generated table to refresh")
	in := flag.String("in", "bench/results", "directory of result files")
	flag.Parse()
	if err := run(*doc, *in); err != nil {
		fmt.Fprintln(os.Stderr, "chaosdoc:", err)
		os.Exit(1)
	}
}

func run(doc, in string) error {
	newest, err := results.Newest(in, chaos.ResultPattern)
	if err != nil {
		return fmt.Errorf("%w: run make chaos first", err)
	}
	rep, err := chaos.ReadReport(newest)
	if err != nil {
		return err
	}
	if err := results.ReplaceSection(doc, "make chaos-doc: scenarios", "## Scenarios", chaos.ScenarioList()); err != nil {
		return err
	}
	if err := results.ReplaceSection(doc, "make chaos-doc", "## Latest `make chaos` run", rep.Table()); err != nil {
		return err
	}
	fmt.Printf("%s: table from %s\n", doc, newest)
	return nil
}
