// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/weft-net/weft/internal/poll"
	"github.com/weft-net/weft/subnet/etcd"
	"github.com/weft-net/weft/subnet/etcd/etcdtest"
)

// TestStartWaitsForConfigOneLinePerReason runs weftd against an etcd that
// has no config, then a broken one: it waits, saying why once per reason
// however often it retries, and a stop while waiting is a clean stop. It
// never gets past the config, so it touches no kernel state and needs no
// root.
func TestStartWaitsForConfigOneLinePerReason(t *testing.T) {
	e := etcdtest.Start(t)
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	opts := Options{
		Etcd: etcd.ClientConfig{Endpoints: e.Endpoints()}, EtcdPrefix: prefix,
		SubnetFile: filepath.Join(t.TempDir(), "subnet.env"), LeaseTTL: time.Hour, RenewMargin: time.Minute,
		ResyncInterval: 2 * time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts, log) }()

	missing := "waiting for the network config in etcd (weftctl config set -f net-conf.json)"
	invalid := "waiting for a valid network config in etcd"
	// Two retries after the reason was first seen: it has been seen often
	// enough to be logged again, if retry logged per attempt.
	waitRetries := func(msg string) {
		poll.Until(t, time.Minute, "two retries of "+msg, func() (bool, string) {
			n := 0
			for _, e := range hook.AllEntries() {
				if e.Level == logrus.DebugLevel && e.Message == msg {
					n++
				}
			}
			return n >= 2, fmt.Sprintf("%d retries so far", n)
		})
	}
	waitRetries(missing)
	ctxPut, cancelPut := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelPut()
	if _, err := e.Client(t).Put(ctxPut, prefix+"/config", `{"Network":"not-a-prefix","Backend":{"Type":"vxlan"}}`); err != nil {
		t.Fatal(err)
	}
	waitRetries(invalid)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v when stopped while waiting for the config, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of cancel")
	}

	var warns []string
	for _, e := range hook.AllEntries() {
		if e.Level <= logrus.WarnLevel {
			warns = append(warns, e.Message)
			if e.Data["step"] != "load network config" || e.Data[logrus.ErrorKey] == nil {
				t.Errorf("warning %q has fields %v, want step and error", e.Message, e.Data)
			}
		}
	}
	if len(warns) != 2 || warns[0] != missing || warns[1] != invalid {
		t.Errorf("warnings = %q, want one per reason: %q, then %q", warns, missing, invalid)
	}
}
