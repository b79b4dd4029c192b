// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"io"
	"net"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/nstest"
)

// connTimeout bounds a test connection; generous, it only catches hangs.
const connTimeout = 30 * time.Second

// exchangeTCP sends a message over TCP from namespace from to a listener
// on listen in namespace to, dialling dial. Both sockets are opened inside
// their namespaces (a socket stays in the namespace it was created in).
func exchangeTCP(t *testing.T, from, to *nstest.NS, listen, dial netip.AddrPort) {
	t.Helper()
	var ln net.Listener
	if err := to.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", listen.String())
		return err
	}); err != nil {
		t.Fatalf("listen on %s in %s: %v", listen, to.Name, err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(connTimeout))
		b, err := io.ReadAll(c)
		if err != nil {
			got <- "read: " + err.Error()
			return
		}
		got <- string(b)
	}()
	msg := "hello from " + from.Name
	if err := from.Do(func() error {
		c, err := net.DialTimeout("tcp", dial.String(), connTimeout)
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte(msg))
		return err
	}); err != nil {
		t.Fatalf("dial %s from %s: %v", dial, from.Name, err)
	}
	select {
	case s := <-got:
		if s != msg {
			t.Errorf("%s received %q, want %q", to.Name, s, msg)
		}
	case <-time.After(connTimeout):
		t.Fatalf("%s received nothing from %s", to.Name, from.Name)
	}
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}
