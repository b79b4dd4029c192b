// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"flag"
	"io"

	"github.com/weft-net/weft/internal/scalebench"
)

// runWatchLoad is the hidden `weft-demo watch-load`: internal/scalebench
// starts a few of them, each inside its own namespace on the underlay, to
// hold thousands of etcd clients with a watch each, as a large fleet of
// weftd would. It reads commands as JSON lines on stdin and answers on
// stdout.
func runWatchLoad(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var cfg scalebench.LoadConfig
	var eps string
	fs := flag.NewFlagSet("weft-demo watch-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&eps, "endpoints", "", "etcd client URLs, comma separated; client i uses the (i mod n)-th")
	fs.StringVar(&cfg.Prefix, "prefix", "/coreos.com/network/subnets/", "etcd key prefix every client watches")
	fs.IntVar(&cfg.Watchers, "watchers", 100, "etcd clients to open, each with its own connection and watch")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.Endpoints = scalebench.ParseEndpoints(eps)
	if len(cfg.Endpoints) == 0 {
		return usageError("--endpoints is required")
	}
	return scalebench.RunLoad(ctx, cfg, stdin, stdout)
}
