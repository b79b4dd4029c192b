// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/sirupsen/logrus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/weft-net/weft/subnet"
	"github.com/weft-net/weft/subnet/etcd"
)

// conn is an open etcd connection and the Registry over it.
type conn struct {
	client *clientv3.Client
	reg    *etcd.Registry
}

func (c *conn) Close() { _ = c.client.Close() }

// connect opens the etcd client with the resolved settings. Registry
// warnings (a malformed lease skipped) go to stderr.
func (a *app) connect() (*conn, error) {
	cc := a.etcd.ClientConfig()
	cc.DialTimeout = a.timeout
	cl, err := etcd.NewClient(cc)
	if err != nil {
		return nil, err
	}
	log := logrus.New()
	log.SetOutput(a.stderr)
	log.SetLevel(logrus.WarnLevel)
	log.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true})
	return &conn{client: cl, reg: etcd.New(cl, a.etcd.Prefix, log)}, nil
}

// etcdContext bounds a command's etcd requests by --timeout.
func (a *app) etcdContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if a.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, a.timeout)
}

// hint explains a failure whose message alone does not say what to do.
func (a *app) hint(err error) string {
	if !errors.Is(err, context.DeadlineExceeded) || a.settings == nil {
		return ""
	}
	return fmt.Sprintf("etcd did not answer within --timeout %s: check %s, the TLS flags and that etcd runs "+
		"(`weftctl config view` shows every setting and where it came from)", a.timeout, a.settings.describe("etcd-endpoints"))
}

// subnetLease resolves a SUBNET argument (CIDR or key form) to its lease.
func (c *conn) subnetLease(ctx context.Context, arg string) (netip.Prefix, subnet.Lease, error) {
	sn, err := parseSubnetArg(arg)
	if err != nil {
		return sn, subnet.Lease{}, err
	}
	l, err := c.reg.GetLease(ctx, sn)
	if err != nil {
		return sn, l, notFoundHint(err, sn)
	}
	return sn, l, nil
}

// grantedTTL is the TTL an etcd lease was granted with (weftd's
// --subnet-lease-ttl when it made the lease), 0 when unknown.
func (c *conn) grantedTTL(ctx context.Context, id int64) time.Duration {
	if id == 0 {
		return 0
	}
	r, err := c.client.TimeToLive(ctx, clientv3.LeaseID(id))
	if err != nil || r.GrantedTTL <= 0 {
		return 0
	}
	return time.Duration(r.GrantedTTL) * time.Second
}
