// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package etcdserver runs an etcd member (go.etcd.io/etcd/server/v3/embed)
// as the main job of a process. weft-demo exposes it as the hidden
// `weft-demo etcd-server` command so the demo, the e2e fixture and the cluster
// benchmarks can start etcd as its own process inside a network namespace
// with nothing beyond what `make build` produces: an in-process server of a
// root-namespace process would have its internal clients dial from the root
// namespace, which has no route to the test addresses.
package etcdserver

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Config describes one member.
type Config struct {
	Name           string
	DataDir        string
	ClientURL      string // e.g. http://198.18.0.254:2379
	PeerURL        string // e.g. http://198.18.0.254:2380
	InitialCluster string // name=peerURL,...; empty: this member alone
	// CompactionRetention, when set, enables periodic auto-compaction.
	CompactionRetention string
}

// Run starts the member and blocks until ctx is done or the server fails.
func Run(ctx context.Context, c Config) error {
	cu, err := url.Parse(c.ClientURL)
	if err != nil {
		return fmt.Errorf("client URL %q: %w", c.ClientURL, err)
	}
	pu, err := url.Parse(c.PeerURL)
	if err != nil {
		return fmt.Errorf("peer URL %q: %w", c.PeerURL, err)
	}
	cfg := embed.NewConfig()
	cfg.Name = c.Name
	cfg.Dir = c.DataDir
	cfg.ListenClientUrls = []url.URL{*cu}
	cfg.AdvertiseClientUrls = []url.URL{*cu}
	cfg.ListenPeerUrls = []url.URL{*pu}
	cfg.AdvertisePeerUrls = []url.URL{*pu}
	cfg.InitialCluster = c.InitialCluster
	if cfg.InitialCluster == "" {
		cfg.InitialCluster = cfg.InitialClusterFromName(c.Name)
	}
	cfg.InitialClusterToken = "weft"
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	if c.CompactionRetention != "" {
		cfg.AutoCompactionMode = "periodic"
		cfg.AutoCompactionRetention = c.CompactionRetention
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start etcd member %s: %w", c.Name, err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		return fmt.Errorf("etcd member %s: not ready after 60s", c.Name)
	case <-ctx.Done():
		return nil
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-e.Err():
		return fmt.Errorf("etcd member %s: %w", c.Name, err)
	}
}
