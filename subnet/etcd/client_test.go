// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package etcd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/weft-net/weft/subnet/etcd/etcdtest"
)

func put(t *testing.T, cfg ClientConfig) error {
	t.Helper()
	cfg.DialTimeout = 2 * time.Second
	cl, err := NewClient(cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = cl.Put(ctx, "/weft-tls-probe", "ok")
	return err
}

func TestClientTLSWithCAOnly(t *testing.T) {
	s, f := etcdtest.StartTLS(t, false)
	if err := put(t, ClientConfig{Endpoints: s.Endpoints(), CAFile: f.CA}); err != nil {
		t.Fatalf("CA file alone should verify the server: %v", err)
	}
	// Without the CA the server's certificate is not trusted.
	if err := put(t, ClientConfig{Endpoints: s.Endpoints()}); err == nil {
		t.Error("connected to a server signed by an unknown CA")
	}
}

func TestClientTLSWithClientCertificate(t *testing.T) {
	s, f := etcdtest.StartTLS(t, true)
	if err := put(t, ClientConfig{Endpoints: s.Endpoints(), CAFile: f.CA, CertFile: f.ClientCert, KeyFile: f.ClientKey}); err != nil {
		t.Fatalf("client certificate: %v", err)
	}
	if err := put(t, ClientConfig{Endpoints: s.Endpoints(), CAFile: f.CA}); err == nil {
		t.Error("server that requires client certificates accepted a client without one")
	}
}

func TestClientConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		cfg  ClientConfig
		want string
	}{
		{ClientConfig{}, "etcd endpoints: none given"},
		{ClientConfig{Endpoints: []string{"https://127.0.0.1:1"}, CAFile: "/nonexistent/ca.crt"}, "etcd CA file"},
		{ClientConfig{Endpoints: []string{"https://127.0.0.1:1"}, CertFile: "/x.crt"}, "give both the cert file and the key file"},
	} {
		_, err := NewClient(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func TestClientUsernamePassword(t *testing.T) {
	s := etcdtest.Start(t)
	admin := s.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.UserAdd(ctx, "root", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := put(t, ClientConfig{Endpoints: s.Endpoints(), Username: "root", Password: "s3cret"}); err != nil {
		t.Fatalf("user and password: %v", err)
	}
	if err := put(t, ClientConfig{Endpoints: s.Endpoints(), Username: "root", Password: "wrong"}); err == nil {
		t.Error("a wrong password was accepted")
	}
}
