// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"flag"
	"io"

	"github.com/weft-net/weft/internal/etcdserver"
)

// runEtcdServer is the hidden `weft-demo etcd-server`: internal/cluster
// starts every etcd member of the demo, the e2e tests and the cluster
// benchmarks with it, inside the member's network namespace.
func runEtcdServer(ctx context.Context, args []string, stderr io.Writer) error {
	var c etcdserver.Config
	fs := flag.NewFlagSet("weft-demo etcd-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Name, "name", "default", "member name")
	fs.StringVar(&c.DataDir, "data-dir", "", "data directory (required)")
	fs.StringVar(&c.ClientURL, "listen-client-url", "http://127.0.0.1:2379", "client URL to listen on and advertise")
	fs.StringVar(&c.PeerURL, "listen-peer-url", "http://127.0.0.1:2380", "peer URL to listen on and advertise")
	fs.StringVar(&c.InitialCluster, "initial-cluster", "", "name=peerURL,... (default: this member alone)")
	fs.StringVar(&c.CompactionRetention, "auto-compaction-retention", "", "periodic auto-compaction retention, e.g. 1m")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if c.DataDir == "" {
		return usageError("--data-dir is required")
	}
	return etcdserver.Run(ctx, c)
}
