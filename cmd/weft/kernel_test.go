// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/weft-net/weft/internal/nstest"
)

// Helpers for tests that look into namespaces: connections, ip(8) output.

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

func disableDAD(t *testing.T, ns *nstest.NS) {
	t.Helper()
	for _, k := range []string{"all", "default"} {
		ns.MustRun(t, "sysctl", "-qw", "net.ipv6.conf."+k+".accept_dad=0")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ipLink is the part of `ip -j addr show` the tests read.
type ipLink struct {
	MTU      int `json:"mtu"`
	AddrInfo []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
		Scope     string `json:"scope"`
	} `json:"addr_info"`
}

func (l ipLink) addrs(family string) []string {
	var out []string
	for _, a := range l.AddrInfo {
		if a.Family == family && a.Scope == "global" {
			out = append(out, fmt.Sprintf("%s/%d", a.Local, a.PrefixLen))
		}
	}
	return out
}

func podLink(t *testing.T, ns *nstest.NS, dev string) ipLink {
	t.Helper()
	var links []ipLink
	if err := json.Unmarshal([]byte(ns.MustRun(t, "ip", "-j", "addr", "show", "dev", dev)), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j addr show dev %s in %s: %v", dev, ns.Name, err)
	}
	return links[0]
}

// podRoutes lists the IPv4 routes of dev as "dst [via gw]".
func podRoutes(t *testing.T, ns *nstest.NS, dev string) []string {
	t.Helper()
	return routes(t, ns, "-4", "dev", dev)
}

func podRoutes6(t *testing.T, ns *nstest.NS) []string {
	t.Helper()
	return routes(t, ns, "-6", "dev", "eth0")
}

func routes(t *testing.T, ns *nstest.NS, family string, args ...string) []string {
	t.Helper()
	var rs []struct {
		Dst     string `json:"dst"`
		Gateway string `json:"gateway"`
	}
	out := ns.MustRun(t, append([]string{"ip", "-j", family, "route", "show"}, args...)...)
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("ip route in %s: %v: %s", ns.Name, err, out)
	}
	var lines []string
	for _, r := range rs {
		line := r.Dst
		if r.Gateway != "" {
			line += " via " + r.Gateway
		}
		lines = append(lines, line)
	}
	return sortedStrings(lines)
}

func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
