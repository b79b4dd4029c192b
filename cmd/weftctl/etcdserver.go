// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"flag"
	"io"

	"github.com/weft-net/weft/internal/etcdserver"
)

func runEtcdServer(ctx context.Context, args []string, _, stderr io.Writer) error {
	var c etcdserver.Config
	fs := flag.NewFlagSet("etcd-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Name, "name", "default", "member name")
	fs.StringVar(&c.DataDir, "data-dir", "", "data directory (required)")
	fs.StringVar(&c.ClientURL, "listen-client-url", "http://127.0.0.1:2379", "client URL to listen on and advertise")
	fs.StringVar(&c.PeerURL, "listen-peer-url", "http://127.0.0.1:2380", "peer URL to listen on and advertise")
	fs.StringVar(&c.InitialCluster, "initial-cluster", "", "name=peerURL,... (default: this member alone)")
	fs.StringVar(&c.CompactionRetention, "auto-compaction-retention", "", "periodic auto-compaction retention, e.g. 1m")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.DataDir == "" {
		return errFlag("--data-dir is required")
	}
	return etcdserver.Run(ctx, c)
}

type errFlag string

func (e errFlag) Error() string { return string(e) }
