// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Reconnect tuning. gRPC's defaults (backoff up to 120 s, 20 s per connect
// attempt) brought weftd back 13–40 s after a long etcd outage ended, and a
// lease with a short TTL expired meanwhile. A capped backoff costs a few
// SYNs a second per node while etcd is down, nothing once it is up; gRPC
// jitters it (±20 %) so nodes do not reconnect in lockstep.
const (
	reconnectBaseDelay = 100 * time.Millisecond
	reconnectMaxDelay  = time.Second
	// connectTimeout bounds one attempt, so an attempt begun while etcd was
	// blackholed does not hold the next one back for long.
	connectTimeout = 2 * time.Second
	// Keepalive pings find a silently dead connection (a blackholed etcd)
	// within about 8 s. etcd refuses pings more often than every 5 s
	// (--grpc-keepalive-min-time) with GOAWAY.
	keepAliveTime    = 5 * time.Second
	keepAliveTimeout = 3 * time.Second
)

// ClientConfig is how weftd and weftctl reach etcd: endpoints, TLS and auth.
// The zero value (no endpoints) is invalid.
type ClientConfig struct {
	Endpoints []string
	CertFile  string // client certificate; needs KeyFile
	KeyFile   string
	CAFile    string // enough on its own for server verification
	Username  string
	Password  string
	// DialTimeout bounds the initial connection (default 5s).
	DialTimeout time.Duration
}

// NewClient builds an etcd v3 client. TLS is used when any endpoint is
// https or a CA or client certificate is given. The client connects lazily:
// an etcd that is down yet gives a working client whose calls fail until it
// is back, which lets weftd wait for etcd instead of exiting.
func NewClient(c ClientConfig) (*clientv3.Client, error) {
	if len(c.Endpoints) == 0 {
		return nil, errors.New("etcd endpoints: none given")
	}
	tlsCfg, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	cl, err := clientv3.New(clientv3.Config{
		Endpoints:            c.Endpoints,
		DialTimeout:          c.DialTimeout,
		DialKeepAliveTime:    keepAliveTime,
		DialKeepAliveTimeout: keepAliveTimeout,
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay: reconnectBaseDelay, Multiplier: 1.6, Jitter: 0.2, MaxDelay: reconnectMaxDelay,
			},
			MinConnectTimeout: connectTimeout,
		})},
		TLS:      tlsCfg,
		Username: c.Username,
		Password: c.Password,
		Logger:   zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client for %s: %w", strings.Join(c.Endpoints, ","), err)
	}
	return cl, nil
}

func (c ClientConfig) tlsConfig() (*tls.Config, error) {
	https := false
	for _, e := range c.Endpoints {
		https = https || strings.HasPrefix(e, "https://")
	}
	if !https && c.CAFile == "" && c.CertFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("etcd CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd CA file %s: no PEM certificate in it", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" || c.KeyFile != "" {
		if c.CertFile == "" || c.KeyFile == "" {
			return nil, errors.New("etcd client certificate: give both the cert file and the key file")
		}
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("etcd client certificate %s / %s: %w", c.CertFile, c.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
