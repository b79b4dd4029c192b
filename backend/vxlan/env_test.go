// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/weft-net/weft/backend"
	"github.com/weft-net/weft/backend/dataplane"
	"github.com/weft-net/weft/backend/dataplane/dataplanetest"
	"github.com/weft-net/weft/backend/dataplane/netlinkdp"
	"github.com/weft-net/weft/internal/nstest"
	"github.com/weft-net/weft/internal/poll"
	"github.com/weft-net/weft/subnet"
)

// env is one node's dataplane, fake or a real namespace, with the hands of
// an operator who deletes things behind weft's back.
type env struct {
	dp   dataplane.Dataplane
	ext  backend.ExternalInterface
	hand hand
}

type hand interface {
	delNeigh(t *testing.T, dev, ip string)
	delFDB(t *testing.T, dev, mac, dst string)
	delRoute(t *testing.T, dst string)
	delLink(t *testing.T, name string)
	// recreateUnderlay deletes eth0 and creates it again, with a new index.
	recreateUnderlay(t *testing.T)
}

var envs = []struct {
	name string
	new  func(t *testing.T) *env
}{
	{"fake", newFakeEnv},
	{"kernel", newKernelEnv},
}

func forEachEnv(t *testing.T, f func(t *testing.T, e *env)) {
	for _, ev := range envs {
		t.Run(ev.name, func(t *testing.T) { f(t, ev.new(t)) })
	}
}

var (
	underlay4 = netip.MustParsePrefix("198.18.0.1/24")
	underlay6 = netip.MustParsePrefix("2001:db8:18::1/64")
)

func extFor(dp dataplane.Dataplane, t testing.TB) backend.ExternalInterface {
	l, err := dp.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	return backend.ExternalInterface{Name: "eth0", Index: l.Index, MTU: l.MTU,
		IfaceAddr: underlay4.Addr(), PublicIP: underlay4.Addr(), IfaceAddrV6: underlay6.Addr(), PublicIPv6: underlay6.Addr()}
}

// fake env

type fakeHand struct{ f *dataplanetest.FakeDataplane }

func newFakeEnv(t *testing.T) *env {
	f := dataplanetest.NewFake()
	addFakeUnderlay(f)
	return &env{dp: f, ext: extFor(f, t), hand: fakeHand{f}}
}

func addFakeUnderlay(f *dataplanetest.FakeDataplane) {
	f.AddLink(dataplane.Link{Name: "eth0", Kind: "veth", MTU: 1500, Up: true, Addrs: []netip.Prefix{underlay4, underlay6}})
}

func (h fakeHand) index(t *testing.T, dev string) int {
	l, err := h.f.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	return l.Index
}

func (h fakeHand) delNeigh(t *testing.T, dev, ip string) {
	h.f.RemoveNeigh(dataplane.Neigh{LinkIndex: h.index(t, dev), IP: netip.MustParseAddr(ip)})
}

func (h fakeHand) delFDB(t *testing.T, dev, mac, dst string) {
	m, _ := subnet.ParseMAC(mac)
	h.f.RemoveFDB(dataplane.FDBEntry{LinkIndex: h.index(t, dev), MAC: m, Dst: netip.MustParseAddr(dst)})
}

func (h fakeHand) delRoute(_ *testing.T, dst string) {
	h.f.RemoveRoute(dataplane.Route{Dst: netip.MustParsePrefix(dst)})
}

func (h fakeHand) delLink(_ *testing.T, name string) { h.f.RemoveLink(name) }

func (h fakeHand) recreateUnderlay(*testing.T) {
	h.f.RemoveLink("eth0")
	addFakeUnderlay(h.f)
}

// kernel env: a namespace with a veth pair eth0/eth0p.

type kernelHand struct{ ns *nstest.NS }

func newKernelEnv(t *testing.T) *env { return newKernelEnvTB(t) }

func newKernelEnvTB(t testing.TB) *env {
	ns := nstest.New(t)
	addKernelUnderlay(t, ns)
	log, _ := test.NewNullLogger()
	dp, err := netlinkdp.New(ns.Handle, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dp.Close() })
	return &env{dp: dp, ext: extFor(dp, t), hand: kernelHand{ns}}
}

func addKernelUnderlay(t testing.TB, ns *nstest.NS) {
	ns.MustRun(t, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
	ns.MustRun(t, "ip", "addr", "add", underlay4.String(), "dev", "eth0")
	ns.MustRun(t, "ip", "addr", "add", underlay6.String(), "dev", "eth0", "nodad")
	ns.MustRun(t, "ip", "link", "set", "eth0p", "up")
	ns.MustRun(t, "ip", "link", "set", "eth0", "up")
}

func (h kernelHand) delNeigh(t *testing.T, dev, ip string) {
	h.ns.MustRun(t, "ip", "neigh", "del", ip, "dev", dev)
}

func (h kernelHand) delFDB(t *testing.T, dev, mac, dst string) {
	h.ns.MustRun(t, "bridge", "fdb", "del", mac, "dev", dev, "dst", dst, "self")
}

func (h kernelHand) delRoute(t *testing.T, dst string) { h.ns.MustRun(t, "ip", "route", "del", dst) }

func (h kernelHand) delLink(t *testing.T, name string) { h.ns.MustRun(t, "ip", "link", "del", name) }

func (h kernelHand) recreateUnderlay(t *testing.T) {
	h.ns.MustRun(t, "ip", "link", "del", "eth0")
	addKernelUnderlay(t, h.ns)
}

// leases and nodes

func mac(i int) string { return fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff) }

func vxlanData(m string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"VNI":1,"VtepMAC":%q}`, m))
}

// lease returns the lease of node i: subnet 10.244.i.0/24 (i < 256) and,
// with v6, fd00:10:244:i::/64.
func lease(i int, public string, v6 bool) subnet.Lease {
	l := subnet.Lease{
		Subnet: netip.MustParsePrefix(fmt.Sprintf("10.244.%d.0/24", i)),
		Attrs: subnet.LeaseAttrs{PublicIP: netip.MustParseAddr(public), BackendType: "vxlan",
			BackendData: vxlanData(mac(i))},
		LeaseID: 1,
	}
	if v6 {
		l.IPv6Subnet = netip.MustParsePrefix(fmt.Sprintf("fd00:10:244:%x::/64", i))
		l.Attrs.PublicIPv6 = netip.MustParseAddr(fmt.Sprintf("2001:db8:18::%x", i))
		l.Attrs.BackendV6Data = vxlanData(mac(0x600 + i))
	}
	return l
}

type node struct {
	b      *Backend
	cancel context.CancelFunc
	done   chan error
	attrs  subnet.LeaseAttrs
}

func quietOpts(o Options) Options {
	if o.Log == nil {
		o.Log, _ = test.NewNullLogger()
	}
	if o.ResyncInterval == 0 {
		o.ResyncInterval = time.Hour // tests that need a resync set it
	}
	if o.RetryInterval == 0 {
		o.RetryInterval = 20 * time.Millisecond
	}
	return o
}

// startNode sets up a backend on e for own (whose attributes fix the VTEP
// MAC) and runs it until the test ends or stop is called.
func startNode(t *testing.T, e *env, cfg subnet.BackendConfig, opts Options, own subnet.Lease) *node {
	t.Helper()
	return startNodeTB(t, e, cfg, opts, own)
}

// startNodeTB is startNode for tests and benchmarks.
func startNodeTB(t testing.TB, e *env, cfg subnet.BackendConfig, opts Options, own subnet.Lease) *node {
	t.Helper()
	if cfg.Type == "" {
		cfg = subnet.BackendConfig{Type: "vxlan", VNI: 1, Port: 8472, TxChecksumOffload: "auto",
			GBP: cfg.GBP, DirectRouting: cfg.DirectRouting, MTU: cfg.MTU}
	}
	b, err := New(cfg, e.dp, quietOpts(opts))
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := b.Setup(context.Background(), e.ext, &own.Attrs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{b: b, cancel: cancel, done: make(chan error, 1), attrs: attrs}
	go func() { n.done <- b.Run(ctx, own) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

func (n *node) stop(t testing.TB) {
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	if err := <-n.done; err != nil {
		t.Errorf("Run returned %v, want nil on cancel", err)
	}
}

// waitFor polls cond with a generous deadline: waits are for correctness,
// never for speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.True(t, 30*time.Second, what, cond)
}

func waitForTB(t testing.TB, what string, cond func() bool) {
	t.Helper()
	poll.True(t, 30*time.Second, what, cond)
}

// waitSnapshot waits until the dataplane's canonical dump is want.
func waitSnapshot(t *testing.T, e *env, want string) {
	t.Helper()
	var got string
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := dataplanetest.Snapshot(e.dp)
		if err != nil {
			t.Fatal(err)
		}
		if got = s; got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("dataplane never matched.\n--- got:\n%s--- want:\n%s", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
