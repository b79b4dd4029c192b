// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package etcdtest starts a real etcd server inside the test process
// (go.etcd.io/etcd/server/v3/embed) on 127.0.0.1 with random ports and a
// temporary data directory. It is the one way tests get an etcd: no fakes
// stand in for etcd behaviour. Servers are stopped in t.Cleanup.
//
// Only use it for code that runs in the root network namespace and dials
// 127.0.0.1; a namespace topology runs etcd as its own process inside its
// namespace instead (see Documentation/architecture.md).
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Server is a running (or stopped, for restart tests) embedded etcd. Its
// methods are safe for concurrent use.
type Server struct {
	t          testing.TB
	dir        string
	clientURL  url.URL
	peerURL    url.URL
	mu         sync.Mutex
	etcd       *embed.Etcd
	clientsMu  sync.Mutex
	allClients []*clientv3.Client
	tls        *transport.TLSInfo // nil: plain http
}

// Start launches a single-member etcd and waits until it serves.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		t:         t,
		dir:       t.TempDir(),
		clientURL: url.URL{Scheme: "http", Host: freeAddr(t)},
		peerURL:   url.URL{Scheme: "http", Host: freeAddr(t)},
	}
	t.Cleanup(func() {
		s.clientsMu.Lock()
		for _, c := range s.allClients {
			_ = c.Close()
		}
		s.clientsMu.Unlock()
		s.Stop()
	})
	s.start(t)
	return s
}

// freeAddr asks the kernel for an unused loopback port. Another process may
// grab it before etcd binds; with ephemeral ports that is rare enough.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("etcdtest: pick a port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	cfg := embed.NewConfig()
	cfg.Name = "etcdtest"
	cfg.Dir = s.dir
	cfg.ListenClientUrls = []url.URL{s.clientURL}
	cfg.AdvertiseClientUrls = []url.URL{s.clientURL}
	cfg.ListenPeerUrls = []url.URL{s.peerURL}
	cfg.AdvertisePeerUrls = []url.URL{s.peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	if s.tls != nil {
		cfg.ClientTLSInfo = *s.tls
	}
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("etcdtest: start etcd: %v", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		e.Close()
		t.Fatalf("etcdtest: etcd not ready after 30s")
	}
	s.mu.Lock()
	s.etcd = e
	s.mu.Unlock()
}

// Endpoints returns the client URLs, for clientv3.Config.Endpoints.
func (s *Server) Endpoints() []string { return []string{s.clientURL.String()} }

// Client returns a new client to the server, closed at test cleanup.
func (s *Server) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   s.Endpoints(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcdtest: client: %v", err)
	}
	s.clientsMu.Lock()
	s.allClients = append(s.allClients, c)
	s.clientsMu.Unlock()
	return c
}

// Stop shuts the server down, keeping its data for Restart. Idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	e := s.etcd
	s.etcd = nil
	s.mu.Unlock()
	if e != nil {
		e.Close()
	}
}

// Restart starts a stopped server again on the same ports and data.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.start(t)
}

// Compact compacts the key space up to the current revision, so watches
// from older revisions fail with ErrCompacted.
func (s *Server) Compact(t testing.TB) int64 {
	t.Helper()
	c := s.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.Get(ctx, "compact-probe")
	if err != nil {
		t.Fatalf("etcdtest: get revision: %v", err)
	}
	if _, err := c.Compact(ctx, r.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("etcdtest: compact: %v", err)
	}
	return r.Header.Revision
}

// String describes the server for test logs.
func (s *Server) String() string { return fmt.Sprintf("etcd %s (dir %s)", s.clientURL.String(), s.dir) }
